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
// Installed "for every user" (osservice.Options.System), the service is
// still each user's own: a systemd user unit enabled with "systemctl
// --global", or a launchd agent in /Library/LaunchAgents. Where the
// service manager has no per-user services (SysV, OpenRC, the Windows
// SCM), or where it is not installed, eidlink-host starts it on demand
// ("eidlink service run --idle-exit"), detached, and it exits once no
// host has been connected for a while. Either way one process owns the
// cards: Claim lets one service run per runtime directory, however many
// hosts start one at once, and Stop stops it.
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
// behind an open PIN request: it gets ERR_EIDLINK_BUSY at once. Card and reader events go to every connection.
//
// # Hosts
//
// eidlink-host relays the browser's messages to the service and never
// drives a card itself. The processes that drive the card without the
// service (the CLI's commands) take turns through a lock file
// (CardLockFile).
//
// # Installation
//
// Package osservice installs the service under the OS service manager and
// runs it there.
package service
