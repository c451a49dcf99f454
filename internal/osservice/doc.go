// Package osservice installs and runs the user's eidlink service under
// the OS service manager, through github.com/kardianos/service: a systemd
// user unit or a launchd agent (Manager), for one user or, with
// Options.System, for every user (each still runs their own instance).
// Unit renders the hardened systemd unit and the launchd plist that the
// packages install. Where the service manager has no per-user services
// (SysV, OpenRC, the Windows SCM) nothing is installed: eidlink-host then
// starts the service on demand (see package service).
package osservice
