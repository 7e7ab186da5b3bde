package fs

// startJournal gives a writable mount its undo journal (created at the
// first in-place write). Whoever mounted removes it with
// vault.StopJournal once the server has stopped (go-fuse's OnUnmount
// may run after Wait and Unmount return, too late for a process that
// exits then). Leftover journals of killed mounts are not replayed
// here (fsck --repair does, with the vault unmounted), but the log says
// they are there, since files they cover may read as damaged.
func (r *root) startJournal() {
	js, errs := r.v.OpenJournals(false)
	if n := js.Records(); n > 0 {
		r.log.Printf("BACKING holds %d leftover undo %s of a killed mount (%q): chunks torn by the kill read as damaged until 'fernetfs fsck --repair' (on the unmounted vault) puts them back",
			len(js.Paths), plural(len(js.Paths), "journal", "journals"), js.Paths)
	}
	for _, err := range errs {
		r.log.Print(err)
	}
	js.Close()
	if !r.readOnly {
		r.v.StartJournal()
	}
}

// stopJournal undoes startJournal when the mount fails.
func (r *root) stopJournal() {
	if !r.readOnly {
		r.v.StopJournal()
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
