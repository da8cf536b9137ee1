// Package hostagent is the host side of ovn-dpu: it serves the CNI plugin
// (HostAgent.CNI) on a unix socket and carries out each verb — resolving
// the VF from sysfs, running the IPAM delegate, writing the
// Logical_Switch_Port request to OVN NB, moving the VF into the pod, and
// waiting for the DPU agent's verdict — recording every step in per-
// attachment state first, so that DEL can undo exactly what was done even
// after a crash.
package hostagent
