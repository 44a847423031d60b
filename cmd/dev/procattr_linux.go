package main

import "syscall"

// childAttr puts a child in its own process group (Ctrl-C reaches dev,
// which stops the children in order) and has the kernel send it SIGTERM
// when dev dies without stopping it (killed, crashed).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
