// POSIX shell quoting: the one helper every rendered script, host command and ssh command line uses.
// Plain functions without imports, so Pulumi's closure serializer carries them into dynamic providers by value.
// The `shell-quote` package is not used: it backslash-escapes instead of single-quoting, which would change
// every rendered file (they are pinned byte for byte by snapshots).

/** A string as one single-quoted shell word (a ' inside becomes '\''). */
export function shq(s: string): string {
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

/** Like shq, but leaves words made only of characters no shell treats specially as they are. */
export function shqIfNeeded(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : shq(s);
}
