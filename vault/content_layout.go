package vault

import (
	"fmt"
	"math"

	"github.com/fernetfs/fernetfs/vault/fernet"
)

// Content layout constants. FORMAT.md describes the same bytes.
const (
	// fileMagic starts the header line of every non-empty content file.
	fileMagic = "fernetfs/v1 "
	// fileHeaderLen is the header line: magic, 32 hex digits of the file
	// ID, newline.
	fileHeaderLen = len(fileMagic) + 2*fileIDLen + 1
	fileIDLen     = 16
	// finalBit marks the file's last chunk in the token timestamp, so a
	// file cut at a chunk boundary is detected.
	finalBit = uint64(1) << 63
	// aesBlock is the AES block: the unit of PKCS7 padding, and the room
	// fernet.Codec.Open needs after a plaintext for its padding.
	aesBlock = fernet.BlockSize
	// minTail is the shortest possible last line: the token of a 1..15
	// byte chunk (fernet.TokenLen(15) = 100) plus its single pad newline.
	minTail = 101
)

// layout is the offset arithmetic for one chunk size.
type layout struct {
	chunk    int64 // C: plaintext bytes per full chunk
	tok      int64 // fernet.TokenLen(C)
	line     int64 // F: a full chunk's line, token plus newline
	maxPlain int64 // largest plaintext size whose backing size fits an int64
}

func newLayout(chunkSize int) layout {
	tok := int64(fernet.TokenLen(chunkSize))
	l := layout{chunk: int64(chunkSize), tok: tok, line: tok + 1}
	l.maxPlain = (math.MaxInt64 - int64(fileHeaderLen) - 2*l.line) / l.line * l.chunk
	return l
}

// lineOff is the backing offset of chunk i's line.
func (l layout) lineOff(i int64) int64 { return int64(fileHeaderLen) + i*l.line }

// padLen is the PKCS7 pad length of an n-byte plaintext, which is also
// the number of newlines after the file's last token.
func padLen(n int64) int64 { return aesBlock - n%aesBlock }

// lastLineLen is the length of the last chunk's line for an L-byte last
// chunk: its token and padLen(L) newlines.
func lastLineLen(L int64) int64 { return int64(fernet.TokenLen(int(L))) + padLen(L) }

// lastChunk splits a non-zero plaintext size into the index and length of
// its last chunk.
func (l layout) lastChunk(size int64) (idx, length int64) {
	idx = (size - 1) / l.chunk
	return idx, size - idx*l.chunk
}

// backingSize is BackingSize for this layout.
func (l layout) backingSize(size int64) int64 {
	if size <= 0 {
		return 0
	}
	idx, L := l.lastChunk(size)
	return l.lineOff(idx) + lastLineLen(L)
}

// BackingSize is the backing file size of a plaintext of size bytes. With
// PlainSize it lets stat, readdir and backup tools learn sizes without
// reading files. chunkSize must be valid for a vault header (a multiple of
// 16 from MinChunkSize to MaxChunkSize); BackingSize panics otherwise, as
// no vault can have such a chunk size.
func BackingSize(plainSize int64, chunkSize int) int64 {
	if err := checkChunkSize(chunkSize); err != nil {
		panic("vault.BackingSize: " + err.Error())
	}
	return newLayout(chunkSize).backingSize(plainSize)
}

// PlainSize is the plaintext size of a content file whose backing file is
// backingSize bytes. The layout makes this exact without reading the file:
// only the last token's pad length is unknown, and the file ends with that
// many newlines. A size no plaintext size maps to is reported as an error
// wrapping ErrCorrupt.
func PlainSize(backingSize int64, chunkSize int) (int64, error) {
	if err := checkChunkSize(chunkSize); err != nil {
		return 0, err
	}
	return newLayout(chunkSize).plainSize(backingSize)
}

func (l layout) plainSize(s int64) (int64, error) {
	if s == 0 {
		return 0, nil
	}
	r := s - int64(fileHeaderLen)
	if s < 0 || r < minTail {
		return 0, fmt.Errorf("%w: backing size %d is too small for a content file", ErrCorrupt, s)
	}
	q := (r - minTail) / l.line
	tail := r - q*l.line
	// tail = fernet.TokenLen(L) + padLen(L). For a plaintext of b AES blocks
	// (after padding) the token length t_b is fixed and the pad is 1..16,
	// so tail lies in t_b+1 .. t_b+16; consecutive t_b differ by at least
	// 20, so at most one b fits. The estimate is exact or one too high.
	b0 := ((tail*3)/4 - 57) / aesBlock
	for b := b0 - 1; b <= b0+1; b++ {
		if b < 1 {
			continue
		}
		t := int64(fernet.TokenLen(int(aesBlock * (b - 1))))
		p := tail - t
		if p < 1 || p > aesBlock {
			continue
		}
		L := aesBlock*b - p
		if L < 1 || L > l.chunk {
			break
		}
		return q*l.chunk + L, nil
	}
	return 0, fmt.Errorf("%w: backing size %d does not fit the content layout (chunk size %d)", ErrCorrupt, s, l.chunk)
}

// PrefixSize is the plaintext size of the whole chunk lines in a backing
// file of backingSize bytes: an upper bound of what the chunks before
// the damage hold. The mount shows it as the size of a file whose
// backing size fits no layout (PlainSize fails), whose every open then
// fails; RepairTail keeps at most this much plus one more chunk.
func PrefixSize(backingSize int64, chunkSize int) int64 {
	if checkChunkSize(chunkSize) != nil || backingSize <= int64(fileHeaderLen) {
		return 0
	}
	l := newLayout(chunkSize)
	return (backingSize - int64(fileHeaderLen)) / l.line * l.chunk
}
