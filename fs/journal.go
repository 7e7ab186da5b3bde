package fs

// startJournal gives a writable mount its undo journal (created at the
// first in-place write). Whoever mounted removes it with
// vault.StopJournal once the server has stopped (go-fuse's OnUnmount
// may run after Wait and Unmount return, too late for a process that
// exits then). A writable mount adopts the leftover journals of killed
// mounts (vault.AdoptLeftover) and puts back what they cover as files
// are first opened (replayLeftover); a read-only mount changes nothing
// and only says they are there, since files they cover may read as
// damaged.
func (r *root) startJournal() {
	js, errs := r.v.OpenJournals(!r.readOnly)
	for _, err := range errs {
		r.log.Print(err)
	}
	n := js.Records()
	switch {
	case n > 0 && r.readOnly:
		r.log.Printf("BACKING holds %d leftover undo %s of a killed mount (%q): chunks torn by the kill read as damaged until 'fernetfs fsck --repair' (on the unmounted vault) or a writable mount puts them back",
			len(js.Paths), plural(len(js.Paths), "journal", "journals"), js.Paths)
	case n > 0:
		r.log.Printf("BACKING holds %d leftover undo %s of a killed mount (%q): chunks torn by the kill are put back as their files are opened; 'fernetfs fsck --repair' (on the unmounted vault) puts back all and removes the journals",
			len(js.Paths), plural(len(js.Paths), "journal", "journals"), js.Paths)
	}
	if r.readOnly {
		js.Close()
		return
	}
	r.v.StartJournal()
	r.v.AdoptLeftover(js)
}

// replayLeftover puts back what a killed mount's write tore in of's
// file, from the leftover journals the mount adopted (startJournal),
// and logs what it changed.
func (r *root) replayLeftover(of *openFile) {
	put, tail, err := of.c.ReplayLeftover()
	name := of.c.Name()
	if len(put) > 0 {
		r.log.Printf("%q: put back %d torn %s %v from the undo journal of a killed mount",
			name, len(put), plural(len(put), "chunk", "chunks"), put)
	}
	if tail.Changed {
		r.log.Printf("%q: cut %d damaged %s from its end (a killed mount's unfinished write), kept %d %s",
			name, tail.Cut, plural(int(tail.Cut), "byte", "bytes"), tail.Kept, plural(int(tail.Kept), "byte", "bytes"))
	}
	if err != nil {
		r.log.Printf("%q: putting back chunks a killed mount tore: %v", name, err)
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
