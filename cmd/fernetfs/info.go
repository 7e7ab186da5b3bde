package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fernetfs/fernetfs/vault"
)

func infoCommand() *command {
	return &command{
		name:     "info",
		synopsis: "BACKING",
		summary:  "show a vault's format and parameters (no password needed)",
		help: `
Print what the vault header says: format version, feature flags, key
derivation, chunk size and the fernetfs that created the vault, and where the header and its backup are. Needs no
password, so the values are as stored: a tampered header is only detected
by commands that unlock the vault.`,
		run: runInfo,
	}
}

func runInfo(e *env, c *command, args []string) error {
	f := newFlagSet(c)
	pos, err := f.parseN(e, args, "BACKING")
	if err != nil {
		return err
	}
	backing := pos[0]
	h, err := vault.ReadHeader(backing)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(backing)
	if err != nil {
		abs = backing
	}
	names := "encrypted"
	if h.HasFeature(vault.FeaturePlaintextNames) {
		names = "plaintext"
	}
	backup := "none"
	bak := filepath.Join(abs, vault.HeaderBackupName)
	if _, err := os.Lstat(bak); err == nil {
		backup = bak + " (the header before the last passwd; the old password still opens it)"
	}
	w := e.stdout
	fmt.Fprintf(w, "vault:       %s\n", abs)
	fmt.Fprintf(w, "header:      %s\n", filepath.Join(abs, vault.HeaderName))
	fmt.Fprintf(w, "backup:      %s\n", backup)
	fmt.Fprintf(w, "format:      %d\n", h.Format)
	fmt.Fprintf(w, "features:    %s\n", strings.Join(h.Features, ", "))
	fmt.Fprintf(w, "names:       %s\n", names)
	fmt.Fprintf(w, "kdf:         %s\n", h.KDF.Name)
	fmt.Fprintf(w, "iterations:  %d\n", h.KDF.Iterations)
	fmt.Fprintf(w, "chunk size:  %d\n", h.ChunkSize)
	createdBy := h.CreatedBy
	if createdBy == "" {
		createdBy = "not recorded (a fernetfs from before it was recorded)"
	}
	fmt.Fprintf(w, "created by:  %s\n", createdBy)
	return nil
}
