package bench

import "syscall"

// childProcAttr puts a node in its own process group, so that a terminal's
// Ctrl-C reaches only the load generator, which stops the nodes in order,
// and has the kernel kill it should the generator die without doing so.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
