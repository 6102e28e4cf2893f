package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// ID is a Discord snowflake (user, guild, channel) or a shard number, kept
// as its decimal string. It decodes from a JSON number or a JSON string of
// decimal digits, never through float64, and encodes as a JSON string.
// The zero value means "absent" (JSON null decodes to it).
type ID string

// ParseID checks that s is a decimal integer that fits in 64 bits and
// returns it in canonical form (no sign, no leading zeros).
func ParseID(s string) (ID, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrBadID)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: %q is not a 64-bit decimal integer", ErrBadID, truncate(s, 40))
	}
	return ID(strconv.FormatUint(v, 10)), nil
}

// Uint64 returns the numeric value; it is 0 for the zero ID.
func (id ID) Uint64() uint64 {
	v, _ := strconv.ParseUint(string(id), 10, 64)
	return v
}

// UnmarshalJSON accepts 123, "123" and null.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*id = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%w: %v", ErrBadID, err)
		}
		v, err := ParseID(s)
		if err != nil {
			return err
		}
		*id = v
		return nil
	default:
		v, err := ParseID(string(b))
		if err != nil {
			return err
		}
		*id = v
		return nil
	}
}

// MarshalJSON writes the id as a string, or null for the zero ID.
func (id ID) MarshalJSON() ([]byte, error) {
	if id == "" {
		return []byte("null"), nil
	}
	return []byte(`"` + string(id) + `"`), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
