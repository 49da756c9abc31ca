"""base/names.py: process_name templates, full names, and what a NAME given to a command means."""

from __future__ import annotations

import pytest

from supervisord_lite.base import names

pytestmark = pytest.mark.timeout(10)


def test_full_name_is_supervisorctls():
    assert names.full_name("web", "web") == "web"
    assert names.full_name("web", "0") == "web:0"
    assert names.full_name("lw", "lw_00") == "lw:lw_00"


def test_expand_fills_every_field_with_format_specs():
    template = "{group_name}.{program_name}_{process_num:02d}of{numprocs}@{host_node_name}"
    host = names.host_node_name()
    assert names.expand(template, "w", "g", 3, 8) == f"g.w_03of8@{host}"
    assert names.expand("{{literal}}", "w", "g", 0, 1) == "{literal}"


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{proces_num}", "unknown field {proces_num}"),
        ("{program_name.upper}", "unknown field {program_name.upper}"),
        ("{0}", "unknown field {0}"),
        ("{}", "unknown field {}"),
        ("a{", 'write "{{" or "}}" for a literal brace'),
        ("a}b", 'write "{{" or "}}" for a literal brace'),
        ("{program_name:d}", "cannot expand it"),
        ("{process_num:zz}", "cannot expand it"),
    ],
)
def test_template_problems_are_explained(template, says):
    problem = names.template_problem(template)
    assert problem is not None and says in problem, problem


@pytest.mark.parametrize("template", ["{program_name}", "x_{process_num:03d}", "{{a}}", "plain"])
def test_good_templates_have_no_problem(template):
    assert names.template_problem(template) is None


# (full name, program, group) for a table: group "web" holds programs web (one process,
# named "web") and api (two); program "solo" is its own group; "lw" has two processes.
TABLE = [
    ("web", "web", "web"),
    ("web:api_0", "api", "web"),
    ("web:api_1", "api", "web"),
    ("solo", "solo", "solo"),
    ("lw:lw_00", "lw", "lw"),
    ("lw:lw_01", "lw", "lw"),
]


def pick(*asked: str) -> tuple[list[str], list[str]]:
    found, unknown = names.select(asked, TABLE, key=lambda row: row)
    return [row[0] for row in found], unknown


def test_a_full_name_means_that_process_alone():
    # "web" is both a process's full name and its group's name: as supervisorctl, the
    # process alone; "web:*" is the whole group.
    assert pick("web") == (["web"], [])
    assert pick("web:api_1") == (["web:api_1"], [])


def test_group_star_group_and_program_mean_all_their_processes():
    assert pick("web:*") == (["web", "web:api_0", "web:api_1"], [])
    assert pick("lw") == (["lw:lw_00", "lw:lw_01"], [])  # a group (and program) name
    assert pick("api") == (["web:api_0", "web:api_1"], [])  # a program in a group
    assert pick("all") == ([row[0] for row in TABLE], [])


def test_results_keep_table_order_without_repeats_and_name_the_unknown():
    assert pick("lw:lw_01", "solo", "lw", "nope", "api:*", "web:") == (
        ["solo", "lw:lw_00", "lw:lw_01"],
        ["nope", "api:*", "web:"],
    )
