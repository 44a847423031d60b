package control

import (
	"fmt"
	"log/slog"
	"net"

	synqv1 "github.com/synqhq/synq/proto/synq/v1"
)

// AddrDefault is where the control API listens by default, and where ctl
// looks for it.
const AddrDefault = synqv1.AddrDefault

// Listen opens the control API's listener. Without a token the API would
// let anyone who reaches it trigger and reset syncs, so it is then bound to
// loopback whatever addr says, and the log says so.
func Listen(addr string, authenticated bool, log *slog.Logger) (net.Listener, error) {
	return ListenAs("control API", AddrDefault, addr, authenticated, log)
}

// ListenAs opens the listener of an operator surface (the control API, the
// console) with the control API's rule: without a token, loopback only.
// example is a well-formed address for the error message.
func ListenAs(what, example, addr string, authenticated bool, log *slog.Logger) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s address %q: %v: use host:port, e.g. %s", what, addr, err, example)
	}
	if !authenticated {
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			log.Warn("no SYNQ_CONTROL_TOKEN set: the "+what+" listens on loopback only; set a token to listen on "+addr, "addr", addr)
			host = "127.0.0.1"
		}
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", what, net.JoinHostPort(host, port), err)
	}
	return lis, nil
}
