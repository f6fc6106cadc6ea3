import statistics
import time

from .conftest import read_head

REQUEST = b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n"


def test_a_plain_get_round_trip_costs_well_under_a_millisecond(gateway):
    sock = gateway.connect()
    timings = []
    for _ in range(2000):
        start = time.perf_counter()
        sock.sendall(REQUEST)
        head, rest = read_head(sock)
        while len(rest) < 2:
            rest += sock.recv(64)
        timings.append(time.perf_counter() - start)
    sock.close()
    median = statistics.median(timings[200:])
    print(f"median GET round trip through the gateway: {median * 1e6:.0f} µs")
    assert rest == b"OK"
    assert median < 0.001
