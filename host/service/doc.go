// Package service runs eidlink as a long-lived OS service that owns the
// PKCS#11 modules and the PC/SC readers, and connects the native hosts
// that browsers spawn to it.
//
// # IPC
//
// The service speaks WebSocket over a Unix socket (Linux, macOS) or over
// loopback TCP (Windows, or --listen tcp:127.0.0.1:PORT). A request is
// refused when it comes from another user (SO_PEERCRED or LOCAL_PEERCRED
// on Unix sockets; the host checks the service's user the same way), when
// it carries an Origin header (browsers always send one: a web page cannot
// reach the service), and when its Eidlink-Secret header does not hold the
// per-install secret (32 random bytes, hex, in a file only the user can
// read). Each WebSocket text message is one protocol message, as in native
// messaging. Both sides first send a hello,
//
//	{"hello":{"protocol":"1.0","version":"0.1.0"}}
//
// the service first; a side refuses a peer whose protocol has another
// major version. Then each connection runs its own command.Serve.
//
// # Cards
//
// All connections share one Provider that admits one open card at a time,
// in the order the requests came (Queued); a request whose connection
// closes leaves the queue, or releases the card, at once. Card and reader
// events go to every connection.
//
// # Hosts
//
// ServeHost is eidlink-host's loop: it relays the browser's messages to
// the service when one answers, and runs the commands in-process when none
// does. A service lost during a request gives the browser
// ERR_EIDLINK_SERVICE_RESTARTED (retryable) for it.
//
// # Installation
//
// Manager installs and controls the service through
// github.com/kardianos/service: a per-user systemd unit or launchd agent
// by default, a system service with System (the only kind on SysV and
// Windows). Unit renders the hardened systemd units and the launchd plist.
package service
