/*
 * One-way UDP delay probe for bench #12 (jittergen), built at bench time.
 *
 *   oneway rx ADDR PORT COUNT   binds ADDR:PORT with SO_TIMESTAMPNS, prints "ready" on stderr, then
 *                               one line per datagram: "SEQ TX_NS RX_NS" (RX_NS: the kernel's
 *                               receive timestamp, CLOCK_REALTIME); stops after COUNT datagrams
 *                               or 3 s without one.
 *   oneway tx ADDR PORT COUNT GAP_US [txsw]
 *                               sends COUNT 64-byte datagrams GAP_US apart (paced against
 *                               CLOCK_MONOTONIC, absolute sleeps), each carrying its sequence
 *                               number and CLOCK_REALTIME ns read right before its sendto. With
 *                               "txsw" it also asks for the kernel's software TX timestamp
 *                               (SO_TIMESTAMPING, read from the error queue) and prints
 *                               "SEQ TXSW_NS" for each one that came back.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int rx(struct sockaddr_in *a, long count) {
  int s = socket(AF_INET, SOCK_DGRAM, 0), one = 1, buf = 4 << 20;
  struct timeval tv = {3, 0};
  if (s < 0 || setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) || setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf) ||
      setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) || bind(s, (struct sockaddr *)a, sizeof *a)) {
    perror("rx socket");
    return 1;
  }
  fprintf(stderr, "ready\n");
  for (long got = 0; got < count;) {
    unsigned char data[256];
    char ctl[256];
    struct iovec iov = {data, sizeof data};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(s, &m, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      break; /* timeout: the rest were lost */
    }
    if (n < 16) continue;
    uint64_t seq, tx, rxns = 0;
    memcpy(&seq, data, 8);
    memcpy(&tx, data + 8, 8);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        rxns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
      }
    printf("%llu %llu %llu\n", (unsigned long long)seq, (unsigned long long)tx, (unsigned long long)rxns);
    got++;
  }
  return 0;
}

static void drain_txsw(int s, uint64_t *txsw, long count) {
  for (;;) {
    char data[256], ctl[512];
    struct iovec iov = {data, sizeof data};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    if (recvmsg(s, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
    uint64_t ts = 0;
    long id = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING) {
        struct scm_timestamping t;
        memcpy(&t, CMSG_DATA(c), sizeof t);
        ts = (uint64_t)t.ts[0].tv_sec * 1000000000ull + (uint64_t)t.ts[0].tv_nsec;
      } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) {
        struct sock_extended_err e;
        memcpy(&e, CMSG_DATA(c), sizeof e);
        if (e.ee_origin == SO_EE_ORIGIN_TIMESTAMPING) id = (long)e.ee_data;
      }
    }
    if (id >= 0 && id < count) txsw[id] = ts;
  }
}

static int tx(struct sockaddr_in *a, long count, long gap_us, int want_txsw) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) {
    perror("tx socket");
    return 1;
  }
  uint64_t *txsw = calloc((size_t)count, sizeof *txsw);
  if (want_txsw) {
    unsigned flags = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;
    if (setsockopt(s, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags)) {
      perror("SO_TIMESTAMPING");
      return 1;
    }
  }
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (long i = 0; i < count; i++) {
    unsigned char b[64] = {0};
    uint64_t seq = (uint64_t)i;
    memcpy(b, &seq, 8);
    uint64_t t = now_ns(CLOCK_REALTIME);
    memcpy(b + 8, &t, 8);
    if (sendto(s, b, sizeof b, 0, (struct sockaddr *)a, sizeof *a) != (ssize_t)sizeof b) perror("sendto");
    if (want_txsw) drain_txsw(s, txsw, count);
    next.tv_nsec += gap_us * 1000;
    while (next.tv_nsec >= 1000000000) next.tv_nsec -= 1000000000, next.tv_sec++;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
  }
  if (want_txsw) {
    struct timespec w = {0, 100 * 1000000}; /* stamps of held packets come back late */
    for (int k = 0; k < 30; k++) nanosleep(&w, NULL), drain_txsw(s, txsw, count);
    for (long i = 0; i < count; i++)
      if (txsw[i]) printf("%ld %llu\n", i, (unsigned long long)txsw[i]);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: oneway rx ADDR PORT COUNT | oneway tx ADDR PORT COUNT GAP_US [txsw]\n");
    return 2;
  }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
  if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) {
    fprintf(stderr, "bad address %s\n", argv[2]);
    return 2;
  }
  long count = atol(argv[4]);
  if (!strcmp(argv[1], "rx")) return rx(&a, count);
  if (!strcmp(argv[1], "tx") && argc >= 6) return tx(&a, count, atol(argv[5]), argc > 6 && !strcmp(argv[6], "txsw"));
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
