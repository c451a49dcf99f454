// Package ipc is the connection between eidlink-host and the user's
// eidlink service: WebSocket over a Unix socket (Linux, macOS) or over
// loopback TCP (Windows, or --listen tcp:127.0.0.1:PORT), its
// authentication, and where each user's service keeps its secret, socket
// and runtime files (PathsFor). The host's side is here: Dial, with a
// small WebSocket client of its own, so that eidlink-host links no
// net/http. The service's side, on gorilla/websocket, is package
// ipcserver; Conn, the hellos and the heartbeat serve both.
//
// # Authentication
//
// Each user has their own service and a host talks only to its own
// user's. A request is refused when it comes from another user
// (SO_PEERCRED or LOCAL_PEERCRED on Unix sockets; the host checks the
// service's user the same way before it sends the secret), when it
// carries an Origin header (browsers always send one: a web page cannot
// reach the service), and when its Eidlink-Secret header does not hold the
// per-install secret (32 random bytes, hex, in a file only the user can
// read).
//
// # Messages
//
// Each WebSocket text message is one protocol message, as in native
// messaging. Both sides first send a hello,
//
//	{"hello":{"protocol":"1.0","version":"0.1.0"}}
//
// the service first; a side refuses a peer whose protocol has another
// major version (VersionError). Then each side pings the other every few
// seconds (heartbeat): a peer silent for longer, frozen or gone, is
// dropped. Buffers that held a message (it may carry a PIN) are cleared
// once the message is sent or read.
package ipc
