package main

import (
	"fmt"
	"path/filepath"

	"github.com/fernetfs/fernetfs/vault"
)

func passwdCommand() *command {
	return &command{
		name:     "passwd",
		synopsis: "[--new-password-file FILE] [--iterations N] [--reverse] BACKING",
		summary:  "change a vault's password",
		help: `
Unlock the vault with its password (or --recovery-key-file) and wrap the
master key under a new password, read from --new-password-file or asked
twice on the terminal. File contents are untouched and the recovery key
stays valid. The previous header is kept as fernetfs.json.bak: it still
opens with the old password, so delete it once the new one works if the
old password was compromised.

With --reverse, BACKING is the plain folder of a reverse vault: its
.fernetfs.reverse.json is rewrapped (the previous one kept as
.fernetfs.reverse.json.bak), and the view's fernetfs.json follows at the
next mount.`,
		run: runPasswd,
	}
}

func runPasswd(e *env, c *command, args []string) error {
	f := newFlagSet(c)
	var cred credFlags
	cred.register(f, true)
	newFile := f.String("new-password-file", "", "read the new password from `FILE` (one trailing newline removed)")
	iterations := f.Int("iterations", 0, "`N` PBKDF2-SHA256 iterations for the new password (default: keep the current count)")
	reverse := f.Bool("reverse", false, "BACKING is the plain folder of a reverse vault (init --reverse)")
	pos, err := f.parseN(e, args, "BACKING")
	if err != nil {
		return err
	}
	if err := cred.check(c.name); err != nil {
		return err
	}
	if *iterations < 0 || *iterations > vault.MaxIterations {
		return usageErrorf("passwd: --iterations %d: must be from 1 to %d", *iterations, vault.MaxIterations)
	}
	backing := pos[0]
	if *newFile == "" {
		// Fail before the slow unlock if the new password cannot be asked.
		tty, err := e.terminal()
		if err != nil {
			return fmt.Errorf("%w; give the new one with --new-password-file", err)
		}
		tty.Close()
	}
	var change func(pw []byte, iterations int) error
	dir, headerBackup := backing, ""
	if *reverse {
		if _, err := vault.ReadReverseHeader(backing); err != nil {
			return err
		}
		c, err := cred.credential(e, backing)
		if err != nil {
			return err
		}
		rv, err := vault.UnlockReverse(backing, c)
		if err != nil {
			return err
		}
		change, headerBackup = rv.ChangePassword, vault.ReverseHeaderBackupName
	} else {
		v, err := unlock(e, &cred, backing)
		if err != nil {
			return err
		}
		change, dir, headerBackup = v.ChangePassword, v.Dir(), vault.HeaderBackupName
	}
	var pw []byte
	if *newFile != "" {
		// Only this flag or the prompt: --password-file, --password-command
		// and FERNETFS_PASSWORD name the current password, never the new one.
		pw, err = (&credFlags{passwordFile: *newFile}).password(e, "", false)
	} else {
		pw, err = promptPassword(e, fmt.Sprintf("New password for %s: ", backing), true)
	}
	if err != nil {
		return err
	}
	if err := change(pw, *iterations); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Password changed for %s.\nThe previous header is kept as %s; it still opens with the old password.\n",
		dir, filepath.Join(dir, headerBackup))
	return nil
}
