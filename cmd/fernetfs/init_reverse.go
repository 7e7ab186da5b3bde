package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fernetfs/fernetfs/vault"
)

// runInitReverse is init --reverse: write a reverse vault header into the
// existing folder plain, the only write fernetfs makes there.
func runInitReverse(e *env, cred *credFlags, opts vault.CreateOptions, plain string) error {
	if opts.PlaintextNames {
		return usageErrorf("init: --reverse vaults always encrypt names (drop --plaintext-names)")
	}
	fi, err := os.Stat(plain)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", plain)
	}
	if vault.IsReverse(plain) {
		return fmt.Errorf("%s already has a reverse vault header (%s)", plain, vault.ReverseHeaderName)
	}
	pw, err := cred.password(e, fmt.Sprintf("New password for the encrypted view of %s: ", plain), true)
	if err != nil {
		return err
	}
	recoveryKey, err := vault.CreateReverse(plain, pw, opts)
	if err != nil {
		return err
	}
	warnWeakIterations(e, opts.Iterations)
	abs, err := filepath.Abs(plain)
	if err != nil {
		abs = plain
	}
	fmt.Fprintf(e.stdout, `Created reverse vault header %s

Recovery key (replaces the password if you forget it):

    %s

Keep it somewhere safe and offline, apart from the backups: anyone who has
it can decrypt them, and it is not shown again.

Mount the encrypted view (read-only) with:

    fernetfs mount --reverse %s VIEW
`, filepath.Join(abs, vault.ReverseHeaderName), recoveryKey, shellQuote(abs))
	return nil
}
