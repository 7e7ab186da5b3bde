package main

import (
	"errors"
	"fmt"

	"github.com/fernetfs/fernetfs/vault"
)

// journalHint adds to a corruption error of cat or decrypt the way out
// when a killed mount left an undo journal: the offline readers report
// a torn chunk as corruption, and fsck --repair puts it back.
func journalHint(v *vault.Vault, err error) error {
	if !errors.Is(err, vault.ErrCorrupt) {
		return err
	}
	js, _ := v.OpenJournals(false)
	defer js.Close()
	if js.Records() == 0 {
		return err
	}
	return fmt.Errorf("%w (a killed mount left an undo journal: 'fernetfs fsck --repair %s' puts back the chunks it tore)", err, v.Dir())
}
