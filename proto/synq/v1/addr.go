package synqv1

// AddrDefault is where a scheduler serves the control API by default, and
// where ctl looks for it.
const AddrDefault = "127.0.0.1:7077"
