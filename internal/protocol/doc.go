// Package protocol defines the messages exchanged between the eidlink
// extension and the native host: commands, their arguments and results, the
// PIN conversation and the stable error codes. PROTOCOL.md at the top of the
// repository is the prose version of this package; keep the two in step.
//
// # Commands
//
// Every request is a JSON object {"command": NAME, "arguments": {...}}. The
// host answers each command with exactly one final message: either the
// command's result or {"error": {"code": CODE, "message": TEXT}}. A command
// that needs the card holder's PIN first answers with a PIN request
// ({"pinRequest": {...}}) and waits on the same port for the command "pin"
// or "cancel"; a wrong PIN produces a new PIN request carrying the error and
// the tries left, and the host waits again. The host never retries a PIN.
//
// # Error codes
//
// Codes are strings, append-only: a released code keeps its meaning forever.
// Where Web eID defines a code for the same condition, its code is used.
// Codes (codes.go) is the one list of codes: the extension's code table and
// PROTOCOL.md's are generated from it; its doc says how to add a code.
package protocol
