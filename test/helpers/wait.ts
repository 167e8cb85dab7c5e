/**
 * Resolves once `condition` holds, checking every `everyMs`; rejects naming
 * `what` after `timeoutMs` (generous: it bounds a failing run, and a slow
 * machine must not fail a passing one). For state that changes without an
 * event to await.
 */
export async function waitFor (what: string, condition: () => boolean, timeoutMs = 30_000, everyMs = 5): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !condition();) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
