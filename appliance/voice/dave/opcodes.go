package dave

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
)

// DAVE opcodes of the voice gateway (voice spec 1.5).
const (
	OpSessionDescription          = 4
	OpClientsConnect              = 11
	OpClientDisconnect            = 13
	OpPrepareTransition           = 21
	OpExecuteTransition           = 22
	OpTransitionReady             = 23
	OpPrepareEpoch                = 24
	OpMLSExternalSender           = 25
	OpMLSKeyPackage               = 26
	OpMLSProposals                = 27
	OpMLSCommitWelcome            = 28
	OpMLSAnnounceCommitTransition = 29
	OpMLSWelcome                  = 30
	OpMLSInvalidCommitWelcome     = 31
)

// Op 27 operations.
const (
	proposalsAppend = 0
	proposalsRevoke = 1
)

// Snowflake is a user ID that travels as a JSON string.
type Snowflake uint64

func (s Snowflake) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatUint(uint64(s), 10)), nil
}

func (s *Snowflake) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		var n uint64 // tolerate a bare number
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return err
		}
		*s = Snowflake(n)
		return nil
	}
	n, err := strconv.ParseUint(str, 10, 64)
	*s = Snowflake(n)
	return err
}

// JSON bodies ("d") of the DAVE text opcodes.
type (
	// ClientsConnect is op 11.
	ClientsConnect struct {
		UserIDs []Snowflake `json:"user_ids"`
	}
	// ClientDisconnect is op 13.
	ClientDisconnect struct {
		UserID Snowflake `json:"user_id"`
	}
	// PrepareTransition is op 21.
	PrepareTransition struct {
		TransitionID    int `json:"transition_id"`
		ProtocolVersion int `json:"protocol_version"`
	}
	// Transition is op 22, 23 and 31.
	Transition struct {
		TransitionID int `json:"transition_id"`
	}
	// PrepareEpoch is op 24.
	PrepareEpoch struct {
		ProtocolVersion int    `json:"protocol_version"`
		Epoch           uint64 `json:"epoch"`
	}
)

func decodeJSON(op int, payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: op %d: %v", ErrPayload, op, err)
	}
	return nil
}

// splitTransition reads the uint16 transition ID in front of ops 29 and
// 30:
//
//	+----------------------+---------------------------------+
//	| transition_id (BE16) | MLSMessage(commit) or Welcome   |
//	+----------------------+---------------------------------+
func splitTransition(op int, body []byte) (int, []byte, error) {
	if len(body) < 2 {
		return 0, nil, fmt.Errorf("%w: op %d body of %d bytes", ErrPayload, op, len(body))
	}
	return int(binary.BigEndian.Uint16(body)), body[2:], nil
}
