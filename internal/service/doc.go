// Package service runs eidlink as a long-lived service that owns the
// PKCS#11 modules and the PC/SC readers for one user, and connects the
// native hosts that the user's browsers spawn to it.
//
// # One service per user
//
// Each user has their own service, running as that user; there is no
// system-wide instance. The card, its PIN conversation and the login
// belong to one user's session: the process that asks for the PIN, loads
// the card maker's PKCS#11 module (and the modules the user's own
// configuration names) and holds the card open runs with that user's
// rights and no more. So no request, PIN request or card event of one
// user can reach another, and the OS keeps deciding who may use a reader
// (pcscd's polkit rules on Linux, which a root service would bypass).
// Users logged in at once each have their own service; PC/SC arbitrates
// the reader between them. A system service for every user would have to
// run the modules as root or SYSTEM, separate users inside one process,
// and ignore per-user configuration, for no gain on a machine where one
// person uses the card at a time.
//
// Installed "for every user" (Options.System), the service is still each
// user's own: a systemd user unit enabled with "systemctl --global", or a
// launchd agent in /Library/LaunchAgents. Where the service manager has
// no per-user services (SysV, OpenRC, the Windows SCM) nothing is
// installed and the host does the card work itself. A host talks only to
// its own user's service (DialDefault), so it can also start that service
// on demand, and Probe says which service that is, or why none answers.
//
// # IPC
//
// Hosts reach the service through package ipc: WebSocket over a Unix
// socket or loopback TCP, refused to other users, to web pages and to
// whoever lacks the per-install secret. Each connection runs its own
// command.Serve.
//
// # Cards
//
// All connections share one Provider that admits one open card at a time,
// in the order the requests came (Queued); a request whose connection
// closes leaves the queue, or releases the card, at once, and none queues
// behind an open PIN request: it gets ERR_EIDLINK_BUSY at once. The
// processes that drive the card without the service (the CLI's commands,
// hosts that find no service) take turns with it through a lock file
// (CardLockFile). Card and reader events go to every connection.
//
// # Hosts
//
// ServeHost is eidlink-host's loop: it relays the browser's messages to
// the service when one answers, and runs the commands in-process when none
// does. It reads the browser and the service on separate goroutines, so
// that pipelined requests never deadlock it. A service lost (or frozen)
// during a request gives the browser ERR_EIDLINK_SERVICE_RESTARTED
// (retryable) for it.
//
// # Installation
//
// Package osservice installs the service under the OS service manager and
// runs it there.
package service
