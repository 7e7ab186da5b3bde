package fernet

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
)

//go:generate go run asmgen.go

// cpuFeatures selects the assembly paths a Codec takes. Keys take the
// host's choice (hostCPU); tests make keys for every other combination
// to run each path on the same machine and compare it with a reference.
type cpuFeatures struct {
	aesni bool // AES-NI CBC and key schedule (cbc_amd64.s)
	avx2  bool // AVX2 base64url (base64_amd64.s)
}

func (f cpuFeatures) String() string {
	var on []string
	if f.aesni {
		on = append(on, "aesni")
	}
	if f.avx2 {
		on = append(on, "avx2")
	}
	if len(on) == 0 {
		return "portable"
	}
	return strings.Join(on, "+")
}

// hostChoice is the set of assembly paths this process uses, chosen
// once, on first use of the codec, by selectCPU, with the known-answer
// check's failure if there was one. It is package state, but written
// only inside sync.OnceValue and read-only afterwards, like the CPU
// feature flags of the standard library's internal/cpu: the choice
// depends on the machine and the process environment, which do not
// change, and every key must take the same paths as the known-answer
// check that vetted them.
var hostChoice = sync.OnceValue(func() cpuChoice {
	f, err := selectCPU(detectCPU(), os.Getenv("GODEBUG"), os.Getenv("FERNETFS_NOASM"), knownAnswer)
	if err != nil {
		log.Print(err)
	}
	return cpuChoice{f, err}
})

type cpuChoice struct {
	f   cpuFeatures
	err error
}

// hostCPU is the paths keys take (see hostChoice).
func hostCPU() cpuFeatures { return hostChoice().f }

// SelfTest returns why the codec's assembly is not in use if that is
// because it failed its known-answer check (the codec then uses the
// standard library, and the standard logger has said so), or nil. It
// runs the check if no key has been made yet. A long-running program
// with its own log, such as the mount, repeats the failure there.
func SelfTest() error { return hostChoice().err }

// selectCPU chooses the paths from those the CPU has (hw):
//
//   - FERNETFS_NOASM=1 switches all the assembly off;
//   - GODEBUG's cpu.aes, cpu.avx2 and cpu.all options, which switch off the
//     standard library's own assembly, switch off ours the same way (the
//     syntax and precedence of internal/cpu: comma-separated, the last
//     setting of a feature wins, "on" cannot enable what the CPU lacks);
//   - what is left must pass the known-answer check kat, or the assembly is
//     switched off and the error says why.
//
// golang.org/x/sys/cpu would apply GODEBUG too, but this package imports
// only the standard library, which exports no feature flags.
func selectCPU(hw cpuFeatures, godebug, noasm string, kat func(cpuFeatures) error) (cpuFeatures, error) {
	if noasm == "1" {
		return cpuFeatures{}, nil
	}
	f := hw
	for _, field := range strings.Split(godebug, ",") {
		key, value, ok := strings.Cut(field, "=")
		if !ok || !strings.HasPrefix(key, "cpu.") || (value != "on" && value != "off") {
			continue
		}
		on := value == "on"
		switch strings.TrimPrefix(key, "cpu.") {
		case "all":
			f = cpuFeatures{aesni: on && hw.aesni, avx2: on && hw.avx2}
		case "aes":
			f.aesni = on && hw.aesni
		case "avx2":
			f.avx2 = on && hw.avx2
		}
	}
	if f == (cpuFeatures{}) {
		return f, nil
	}
	if err := kat(f); err != nil {
		return cpuFeatures{}, fmt.Errorf("fernet: %s assembly failed its known-answer test, using the standard library instead: %w", f, err)
	}
	return f, nil
}

// The known answer: katToken is the token of katPlain under katKey with
// timestamp katTS and IV katIV, as any Fernet implementation makes it
// (the tests check it against one written with the standard library
// alone; pyca/cryptography's Fernet primitives give it too). katPlain is long enough for every loop of the assembly (eight
// blocks at a time and single blocks in CBC decryption, 24- and 32-byte
// groups and a scalar tail in base64) and ends in a partial block.
const (
	katTS    = 0x0123456789abcdef
	katToken = "gAEjRWeJq83voKGio6SlpqeoqaqrrK2ur70JZQ8fuvPfeqNV_rfd8KGUvayE16XFH1ZWusdbDYzXMTV-tx-TUK9lMtswgsjWu3xpKPEk3cy4H1qivRXQqXGNQnXIwigQFa43JqqJHyHpvE3H74NmwnynzrWuhsrYA5y1sdIVrYzraLjzgz-cYGzEfR1iVlWcvSVuboRFjTZ5gWGHay96qYQBzvnaamccAkGpKiWLIc5vscZre2foA8PZyrZXgZ5HKFP3W4CqDxK6jgNCEZJDQkuFXjGftsyIW2vx1aoFCyDPiDCUA5juc_htViq_f7liVvUSO1qrnZa1UXoMpGWpeFiZXLYm7U0HvQ=="
)

// katKey, katIV and katPlain are the fixed inputs of the known answer.
func katInputs() (key, iv, plain []byte) {
	key = make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	iv = make([]byte, BlockSize)
	for i := range iv {
		iv[i] = 0xa0 + byte(i)
	}
	plain = make([]byte, 200)
	for i := range plain {
		plain[i] = byte(i * 7)
	}
	return key, iv, plain
}

// knownAnswer seals the known plaintext on the paths f (alone and as a
// batch) and opens the known token on them, and reports any difference
// from the known answer.
func knownAnswer(f cpuFeatures) error {
	raw, iv, plain := katInputs()
	k, err := newKey(raw, f)
	if err != nil {
		return err
	}
	c := k.NewCodec()
	if tok := c.Seal(nil, plain, katTS, iv); string(tok) != katToken {
		return errors.New("Seal gives another token")
	}
	var dst, plains, ivs [Batch][]byte
	var tss [Batch]uint64
	for k := range Batch {
		plains[k], ivs[k], tss[k] = plain, iv, katTS
	}
	c.SealBatch(&dst, &plains, &tss, &ivs)
	for _, tok := range dst {
		if string(tok) != katToken {
			return errors.New("SealBatch gives another token")
		}
	}
	got, ts, err := c.Open(nil, []byte(katToken))
	if err != nil {
		return fmt.Errorf("Open: %w", err)
	}
	if ts != katTS || !bytes.Equal(got, plain) {
		return errors.New("Open gives another plaintext")
	}
	bad := []byte(katToken)
	bad[len(bad)/2] ^= 1
	if _, _, err := c.Open(nil, bad); err == nil {
		return errors.New("Open accepts a damaged token")
	}
	return nil
}
