//go:build !linux

package main

import "syscall"

// childAttr puts a child in its own process group (Ctrl-C reaches dev,
// which stops the children in order). Only Linux has a parent-death
// signal: elsewhere a dev killed outright leaves its children running.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
