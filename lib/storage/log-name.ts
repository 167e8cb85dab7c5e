const LOG_NAME = /^[A-Za-z0-9._-]{1,249}$/

/** Log names are directory names: 1-249 bytes of A-Z a-z 0-9 . _ - (not "." or ".."). */
export function isValidLogName (name: string): boolean {
  return LOG_NAME.test(name) && name !== '.' && name !== '..'
}
