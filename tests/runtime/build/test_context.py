import os

from runtime.build.context import IgnoreRules, apply_dockerignore, resolve_inside


def test_dockerignore_last_match_wins_and_double_star_matches_any_depth():
    rules = IgnoreRules("# comment\n*.log\n**/tmp\n!keep.log\nbuild/\n")
    assert rules.ignored("debug.log")
    assert not rules.ignored("keep.log")
    assert rules.ignored("a/b/tmp/file")
    assert rules.ignored("build/out.o")
    assert not rules.ignored("src/main.c")


def test_apply_dockerignore_keeps_the_dockerfile(tmp_path):
    (tmp_path / ".dockerignore").write_text("*\n!src\n")
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "secret").write_text("x")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.c").write_text("int")
    apply_dockerignore(tmp_path, keep={"Dockerfile", ".dockerignore"})
    assert sorted(os.listdir(tmp_path)) == [".dockerignore", "Dockerfile", "src"]


def test_resolve_inside_never_leaves_the_root(tmp_path):
    (tmp_path / "etc").mkdir()
    os.symlink("/etc/passwd", tmp_path / "link")
    os.symlink("../../../..", tmp_path / "etc" / "up")
    assert resolve_inside(tmp_path, "link") == tmp_path / "etc" / "passwd"
    assert resolve_inside(tmp_path, "etc/up/etc") == tmp_path / "etc"
