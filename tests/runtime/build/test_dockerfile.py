import pytest

from runtime.build.dockerfile import parse
from runtime.build.words import expand_word, expand_words
from runtime.errors import InvalidInput


def test_it_joins_continuations_skips_comments_and_splits_stages():
    df = parse(
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=busybox\n"
        "FROM $BASE AS build\n"
        "RUN echo one \\\n"
        "# a comment inside the continuation\n"
        "    two\n"
        "FROM scratch\n"
        "COPY --from=build --chmod=755 /a /b\n"
    )
    assert [a.args for a in df.global_args] == ["BASE=busybox"]
    first, second = df.stages
    assert (first.name, first.base) == ("build", "$BASE")
    assert first.instructions[0].args == "echo one     two"
    assert second.instructions[0].flags == {"from": "build", "chmod": "755"}
    assert df.stage("build") is first


def test_the_escape_directive_changes_the_continuation_character():
    df = parse("# escape=`\nFROM busybox\nRUN dir c:\\ `\n  /w\n")
    assert df.escape == "`"
    assert df.stages[0].instructions[0].args == "dir c:\\   /w"


def test_exec_form_is_recognised_and_shell_form_kept():
    df = parse('FROM busybox\nCMD ["echo", "hi"]\nRUN echo [not json\n')
    cmd, run = df.stages[0].instructions
    assert cmd.json_args == ["echo", "hi"]
    assert run.json_args is None


def test_unknown_instructions_and_flags_are_refused_with_the_line():
    with pytest.raises(InvalidInput, match="line 2: unknown instruction: FORM"):
        parse("FROM busybox\nFORM x\n")
    with pytest.raises(InvalidInput, match="unknown flag: --mount"):
        parse("FROM busybox\nRUN --mount=type=cache echo\n")
    with pytest.raises(InvalidInput, match="no build stage"):
        parse("RUN echo\n")


def test_variables_expand_like_docker():
    env = {"A": "x", "EMPTY": ""}
    assert expand_word("${A}-$A-${MISSING:-dflt}-${A:+set}-${EMPTY:+no}", env) == "x-x-dflt-set-"
    assert expand_word("'$A' \"$A\" \\$A", env) == "$A x $A"
    assert expand_words('one "two words" $A', env) == ["one", "two words", "x"]
