// Package protocol holds the wire types of the discodo node protocol: the
// {op, d} envelope of websocket frames, snowflake ids, the names of ops and
// events, error tracebacks, close codes, REST error bodies and the AudioData
// object bots put into queues.
//
// The contract is ../shared/spec/node-protocol.md (the seed page made
// precise). This package only encodes and decodes; it holds no state and
// imports nothing from the project, so that the server, the node and the
// tests share one definition of every byte on the wire.
//
// # Why ids are strings
//
// Discord snowflakes exceed 2^53, and clients send them as JSON numbers
// (discodo's Python client) or as strings (discodo.js). Decoding a number
// through float64 would silently corrupt it, so [ID] decodes both forms
// without floats, checks that the result is a decimal integer that fits in
// 64 bits, and is always sent back as a string (section 1).
//
// # Why d is never null
//
// discodo.js throws on a null d, so every frame the node sends carries an
// object (or the echoed heartbeat value, which may legitimately be null).
// [Encode] turns a nil d into {}.
package protocol
