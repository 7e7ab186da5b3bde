package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// MaxHeaderLen bounds fernetfs.json: a longer file is a malformed header
// and is never read further. Real headers are about 400 bytes.
const MaxHeaderLen = 64 << 10

// memberSchema names the members an object in the header may have,
// exactly as FORMAT.md spells them.
type memberSchema map[string]memberSpec

// memberSpec is what FORMAT.md says of one member beyond its type (which
// the decoding into Header checks).
type memberSpec struct {
	// object is the schema of the member's value when that must be an
	// object; nil for any other value.
	object memberSchema
	// optional members may be absent; the others are required.
	optional bool
	// nonEmpty: the value, when present, is a string of at least one
	// byte (an empty created_by would mean the same header as none).
	nonEmpty bool
}

// headerSchema is the shape of fernetfs.json.
var headerSchema = memberSchema{
	"format":   {},
	"features": {},
	"kdf": {object: memberSchema{
		"name":       {},
		"iterations": {},
		"salt":       {},
	}},
	"chunk_size":         {},
	"wrapped_master_key": {},
	"created_by":         {optional: true, nonEmpty: true},
	"mac":                {},
}

// maxHeaderDepth bounds nesting while checking: the header nests two
// objects deep, and a hostile one must not make the check recurse
// without limit.
const maxHeaderDepth = 8

// checkHeaderJSON enforces what encoding/json lets through but FORMAT.md
// forbids: member names that differ in letter case from the schema,
// duplicate members at any level (encoding/json keeps the last),
// missing members, null, an empty created_by, bytes that are not
// UTF-8, and anything but white space after the object
// (json.Decoder.More reports a stray '}' as the end of input). Types and
// values are checked by the decoding that follows.
func checkHeaderJSON(data []byte) error {
	// encoding/json replaces invalid UTF-8 in strings with U+FFFD; RFC
	// 8259 JSON text is UTF-8, and a reader in another language (such
	// as contrib/recover.py) refuses such bytes, so refuse them here too
	// rather than call a wrapped key spoiled this way a wrong password.
	if !utf8.Valid(data) {
		return errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := checkJSONValue(dec, memberSpec{object: headerSchema}, "header", 0); err != nil {
		return err
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// checkJSONValue reads one value from dec and checks it against spec:
// an object with exactly the members of spec.object when that is set.
// Objects elsewhere (where the decoding will report a type error) are
// still checked for duplicate members.
func checkJSONValue(dec *json.Decoder, spec memberSpec, what string, depth int) error {
	if depth > maxHeaderDepth {
		return fmt.Errorf("%s: nested too deeply", what)
	}
	tok, err := dec.Token()
	if err == io.EOF {
		return fmt.Errorf("%s: unexpected end of input", what)
	}
	if err != nil {
		return fmt.Errorf("%s: %v", what, err)
	}
	if tok == nil {
		return fmt.Errorf("%s: null is not allowed", what)
	}
	if s, ok := tok.(string); ok && spec.nonEmpty && s == "" {
		return fmt.Errorf("%s must not be empty", what)
	}
	delim, _ := tok.(json.Delim)
	if spec.object != nil && delim != '{' {
		return fmt.Errorf("%s must be an object", what)
	}
	switch delim {
	case '{':
		seen := make(map[string]bool)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return fmt.Errorf("%s: %v", what, err)
			}
			name := kt.(string) // the decoder allows only strings here
			if seen[name] {
				return fmt.Errorf("%s: duplicate member %q", what, name)
			}
			seen[name] = true
			sub, known := spec.object[name]
			if spec.object != nil && !known {
				return fmt.Errorf("%s: unknown member %q (member names are case-sensitive)", what, name)
			}
			if err := checkJSONValue(dec, sub, fmt.Sprintf("member %q", name), depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("%s: %v", what, err)
		}
		for name, sub := range spec.object {
			if !seen[name] && !sub.optional {
				return fmt.Errorf("%s: missing member %q", what, name)
			}
		}
	case '[':
		for dec.More() {
			if err := checkJSONValue(dec, memberSpec{}, what, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("%s: %v", what, err)
		}
	}
	return nil
}

// base64Bytes is a header field stored as base64. It decodes only the
// canonical encoding (RFC 4648 section 3.5): encoding/json's []byte
// decoding skips CR and LF and accepts non-zero pad bits, so several
// texts would give the same header.
type base64Bytes []byte

// UnmarshalJSON implements json.Unmarshaler.
func (b *base64Bytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(raw) != s {
		return fmt.Errorf("%q is not canonical base64", s)
	}
	*b = raw
	return nil
}
