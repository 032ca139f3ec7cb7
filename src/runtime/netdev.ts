/**
 * Network device settings the XDP programs need, in the calling thread's network namespace: the
 * interface's MAC address (the source of frames an XDP_TX program rewrites), its driver (veth
 * needs care in native XDP mode) and TX checksum offload (off on a sender whose frames reach a
 * native-mode XDP program on veth, which loses the partial checksum).
 */
export { interfaceDriver, interfaceHardwareAddress as interfaceMac, setTxChecksumOffload, txChecksumOffload } from "../syscall/netdev.js";
