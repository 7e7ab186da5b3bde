package main

import (
	"fmt"
	"net"
	"strings"
)

// notifySocketEnv names the socket systemd listens on for a Type=notify
// service (sd_notify(3)).
const notifySocketEnv = "NOTIFY_SOCKET"

// sdNotify sends state (e.g. "READY=1") to the service manager when
// NOTIFY_SOCKET is set, and does nothing otherwise. A path starting with
// "@" is an abstract socket (the net package maps it).
func sdNotify(getenv func(string) string, state string) error {
	path := getenv(notifySocketEnv)
	if path == "" {
		return nil
	}
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return fmt.Errorf("%s=%q: not a socket path", notifySocketEnv, path)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notifying the service manager: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notifying the service manager: %w", err)
	}
	return nil
}
