rm -f '/root/.ssh/mirrorstack_sync' '/root/.ssh/mirrorstack_sync.pub'
