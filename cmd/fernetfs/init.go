package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fernetfs/fernetfs/vault"
)

// weakIterations is the PBKDF2 count below which init warns: fine for
// tests, too cheap against an offline guesser for real data.
const weakIterations = 100_000

func initCommand() *command {
	return &command{
		name:     "init",
		synopsis: "[--iterations N] [--chunk-size N] [--plaintext-names] BACKING\n       fernetfs init --reverse [--iterations N] [--chunk-size N] PLAINDIR",
		summary:  "create a new vault in the directory BACKING",
		help: `
Create a new, empty vault in BACKING (created if missing; an existing
directory must be empty). Asks for the new password twice unless a password
source is given, then prints the recovery key: it unlocks the vault when the
password is lost, and it is shown only this once.

With --reverse, PLAINDIR is an existing folder of plain files to back up
encrypted: init writes only the header .fernetfs.reverse.json into it, and
"fernetfs mount --reverse PLAINDIR VIEW" then shows the encrypted view.`,
		run: runInit,
	}
}

func runInit(e *env, c *command, args []string) error {
	f := newFlagSet(c)
	var cred credFlags
	cred.register(f, false)
	iterations := f.Int("iterations", vault.DefaultIterations, "`N` PBKDF2-SHA256 iterations for the password; lower only for tests")
	chunkSize := f.Int("chunk-size", vault.DefaultChunkSize, "`N` plaintext bytes per encrypted chunk, a multiple of 16")
	plainNames := f.Bool("plaintext-names", false, "store file names unencrypted")
	reverse := f.Bool("reverse", false, "set up the plain folder PLAINDIR for an encrypted view (mount --reverse)")
	pos, err := f.parseN(e, args, "BACKING")
	if err != nil {
		return err
	}
	if err := cred.check(c.name); err != nil {
		return err
	}
	if *iterations < 1 || *iterations > vault.MaxIterations {
		return usageErrorf("init: --iterations %d: must be from 1 to %d", *iterations, vault.MaxIterations)
	}
	if *chunkSize < vault.MinChunkSize || *chunkSize > vault.MaxChunkSize || *chunkSize%16 != 0 {
		return usageErrorf("init: --chunk-size %d: must be a multiple of 16 from %d to %d",
			*chunkSize, vault.MinChunkSize, vault.MaxChunkSize)
	}
	backing := pos[0]
	if *reverse {
		return runInitReverse(e, &cred, vault.CreateOptions{
			Iterations:     *iterations,
			ChunkSize:      *chunkSize,
			PlaintextNames: *plainNames,
			CreatedBy:      buildVersion(),
		}, backing)
	}

	// Check the directory before asking for a password that would be
	// typed twice for nothing.
	created := false
	entries, err := os.ReadDir(backing)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		created = true
	case err != nil:
		return err
	case vault.IsVault(backing):
		return fmt.Errorf("%s is already a vault", backing)
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty; a vault needs an empty directory", backing)
	}

	pw, err := cred.password(e, fmt.Sprintf("New password for %s: ", backing), true)
	if err != nil {
		return err
	}
	if created {
		if err := os.Mkdir(backing, 0o700); err != nil {
			return err
		}
	}
	v, recoveryKey, err := vault.Create(backing, pw, vault.CreateOptions{
		Iterations:     *iterations,
		ChunkSize:      *chunkSize,
		PlaintextNames: *plainNames,
		CreatedBy:      buildVersion(),
	})
	if err != nil {
		if created {
			os.RemoveAll(backing)
		}
		return err
	}
	warnWeakIterations(e, *iterations)
	abs, err := filepath.Abs(v.Dir())
	if err != nil {
		abs = v.Dir()
	}
	fmt.Fprintf(e.stdout, `Created vault %s

Recovery key (replaces the password if you forget it):

    %s

Keep it somewhere safe and offline, apart from the vault: anyone who has it
can decrypt everything, and it is not shown again.

Mount the vault with:

    fernetfs mount %s MOUNTPOINT
`, abs, recoveryKey, shellQuote(abs))
	return nil
}

// shellQuote quotes s for a copy-pasted shell command when it needs it.
func shellQuote(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || r == '.' || r == '_' || r == '-' || r == '+' || r == ',' || r == ':' || r == '@' || r == '%') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// warnWeakIterations warns when a new header's PBKDF2 count is cheap
// for a password guesser.
func warnWeakIterations(e *env, iterations int) {
	if iterations < weakIterations {
		fmt.Fprintf(e.stderr, "fernetfs: warning: --iterations %d is weak against password guessing (default %d)\n",
			iterations, vault.DefaultIterations)
	}
}
