rm -f '/root/.ssh/mirrorstack_backup_push' '/root/.ssh/mirrorstack_backup_push.pub'
