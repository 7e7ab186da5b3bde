package vault

// AdoptLeftover gives the live journal (StartJournal) the leftover
// journals of killed mounts, as OpenJournals(true) returns them: locked,
// so that no other mount and no fsck uses them while this mount lives.
// Files opened afterwards are replayed from them (ReplayLeftover), which
// is how a remount after kill -9 gives back the chunks the kill tore
// without an fsck. StopJournal closes them but leaves them in BACKING: a
// file that is never opened keeps its torn chunks, and fsck --repair,
// which goes through every file, removes the journals once it has put
// everything back. Without a live journal (a read-only mount) or
// records, AdoptLeftover just closes js.
func (v *Vault) AdoptLeftover(js *Journals) {
	v.journalMu.Lock()
	defer v.journalMu.Unlock()
	j := v.journal.Load()
	if j == nil || js.Records() == 0 || !j.leftover.CompareAndSwap(nil, js) {
		js.Close()
	}
}

// ReplayLeftover puts back the chunks of this file that a killed
// mount's in-place write tore, from the leftover journals the live
// journal adopted (RestoreTorn), and when it put any back, cuts what
// that write left past the old end (RepairTail): for this one file,
// what fsck --repair does. put lists the chunks put back and tail says
// what was cut. Without adopted journals, or records of this file, it
// reads the file header at most and changes nothing. With shared
// storage it holds the file's tail lock exclusively meanwhile, so that
// another mount's write in progress is never taken for a torn one.
func (c *Content) ReplayLeftover() (put []int64, tail TailRepair, err error) {
	if c.jr == nil {
		return nil, TailRepair{}, nil
	}
	js := c.jr.leftover.Load()
	if js == nil {
		return nil, TailRepair{}, nil
	}
	unlock, err := c.lockResize()
	if err != nil {
		return nil, TailRepair{}, err
	}
	defer unlock()
	put, err = c.RestoreTorn(js, true)
	if err != nil || len(put) == 0 {
		return put, TailRepair{}, err
	}
	tail, err = c.RepairTail()
	return put, tail, err
}
