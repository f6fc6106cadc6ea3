from runtime.network import etcfiles, write_etc_files


def test_it_writes_hosts_hostname_and_the_hosts_resolvers(tmp_path, monkeypatch):
    host = tmp_path / "host-resolv.conf"
    host.write_text("nameserver 10.0.0.53\nsearch corp.example\noptions ndots:2\n")
    monkeypatch.setattr(etcfiles, "HOST_RESOLV_CONF", host)
    hosts, hostname, resolv = write_etc_files(
        tmp_path / "etc", "web1", "172.18.0.2", [("db", "10.1.1.1")], (), ()
    )
    assert hostname.read_text() == "web1\n"
    assert "172.18.0.2\tweb1" in hosts.read_text()
    assert "10.1.1.1\tdb" in hosts.read_text()
    assert "127.0.0.1\tlocalhost" in hosts.read_text()
    assert resolv.read_text() == ("nameserver 10.0.0.53\nsearch corp.example\noptions ndots:2\n")


def test_a_loopback_stub_resolver_is_replaced_by_its_upstreams(tmp_path, monkeypatch):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\noptions edns0\n")
    upstream = tmp_path / "upstream.conf"
    upstream.write_text("nameserver 192.0.2.53\nnameserver 127.0.0.1\nsearch lan\n")
    monkeypatch.setattr(etcfiles, "HOST_RESOLV_CONF", host)
    monkeypatch.setattr(etcfiles, "RESOLVED_UPSTREAMS", upstream)
    _, _, resolv = write_etc_files(tmp_path / "etc", "x", None)
    assert resolv.read_text() == "nameserver 192.0.2.53\nsearch lan\noptions edns0\n"


def test_explicit_dns_and_search_win(tmp_path, monkeypatch):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 10.0.0.53\nsearch corp\n")
    monkeypatch.setattr(etcfiles, "HOST_RESOLV_CONF", host)
    _, _, resolv = write_etc_files(tmp_path / "etc", "x", None, dns=["9.9.9.9"], search=["a.b"])
    assert resolv.read_text() == "nameserver 9.9.9.9\nsearch a.b\n"


def test_rewriting_hosts_keeps_the_file_a_bind_mount_points_at(tmp_path):
    hosts, _, _ = write_etc_files(tmp_path, "web", "10.0.0.2")
    inode = hosts.stat().st_ino
    etcfiles.write_hosts(hosts, "web", "10.0.0.2", [("a-much-longer-peer-name", "10.0.0.3")])
    etcfiles.write_hosts(hosts, "web", "10.0.0.2", [])
    assert hosts.stat().st_ino == inode
    assert hosts.read_text() == etcfiles.hosts_content("web", "10.0.0.2", [])
