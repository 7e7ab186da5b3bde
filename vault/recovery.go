package vault

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

// The recovery key is the master key written for humans: base32 of the 32
// key bytes and a 3-byte SHA-256 checksum (56 characters), in groups of 8
// separated by dashes. The checksum turns a typo into ErrBadRecoveryKey
// instead of a confusing "wrong password".
const recoveryChecksumLen = 3

// FormatRecoveryKey encodes a master key as recovery key text.
func FormatRecoveryKey(master [32]byte) string {
	sum := sha256.Sum256(master[:])
	raw := append(master[:], sum[:recoveryChecksumLen]...)
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
	var groups []string
	for len(s) > 0 {
		n := min(8, len(s))
		groups = append(groups, s[:n])
		s = s[n:]
	}
	return strings.Join(groups, "-")
}

// ParseRecoveryKey decodes recovery key text, ignoring case, dashes and
// white space, and verifies its checksum.
func ParseRecoveryKey(text string) ([32]byte, error) {
	var master [32]byte
	clean := strings.Map(func(r rune) rune {
		switch r {
		case '-', ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, strings.ToUpper(text))
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(clean)
	if err != nil || len(raw) != 32+recoveryChecksumLen {
		return master, fmt.Errorf("%w: expected 56 base32 characters", ErrBadRecoveryKey)
	}
	sum := sha256.Sum256(raw[:32])
	if string(sum[:recoveryChecksumLen]) != string(raw[32:]) {
		return master, fmt.Errorf("%w: checksum mismatch (typo?)", ErrBadRecoveryKey)
	}
	copy(master[:], raw)
	return master, nil
}
