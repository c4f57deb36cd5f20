"""The unknown-parameter rule, pure: names, sections, command lines, messages (no rclpy)."""
from deer_ros.ros_io.param_check import (ArgSources, closest, read_ros_args, review_overrides,
                                         section_matches, sections, type_refusal)
from deer_ros.ros_io.settings import SPECS

KNOWN = list(SPECS) + ['use_sim_time', 'start_type_description_service']


def test_closest_real_name_of_the_issues_typos():
    assert closest('dry_rn', KNOWN) == 'dry_run'
    assert closest('safety.max_translaton_m', KNOWN) == 'safety.max_translation_m'
    assert closest('saftey.stale_image_s', KNOWN) == 'safety.stale_image_s'
    assert closest('cameras', KNOWN) is None


def test_ros_args_give_params_files_and_p_rules_only_inside_ros_args():
    argv = ['prog', '-p', 'outside:=1', '--ros-args', '-r', '__ns:=/arm',
            '--params-file', 'a.yaml', '-p', 'dry_run:=true',
            '--param', 'deer_node:safety.stale_image_s:=1.0',
            '-r', '-p:=x', '--', '-p', 'after:=1', '--ros-args', '--params-file', 'b.yaml']
    sources = read_ros_args(argv)
    assert sources.params_files == ('a.yaml', 'b.yaml')
    assert sources.rules == (('', 'dry_run'), ('deer_node', 'safety.stale_image_s'))


def test_sections_nest_node_keys_and_parameter_names():
    own = {'safety': {'max_translaton_m': 0.001}, 'dry_run': True}
    doc = {'/**': {'ros__parameters': {'use_sim_time': True}},
           'arm': {'deer_node': {'ros__parameters': own}}}
    assert dict(sections(doc)) == {
        '/**': {'use_sim_time': True},
        '/arm/deer_node': {'safety.max_translaton_m': 0.001, 'dry_run': True}}
    assert dict(sections(None)) == {} and dict(sections('text')) == {}


def test_section_matching_follows_the_wildcards():
    cases = {('/**', '/deer_node'): True, ('/**', '/a/b/deer_node'): True,
             ('/deer_node', '/deer_node'): True, ('/deer_node', '/arm/deer_node'): False,
             ('/**/deer_node', '/deer_node'): True, ('/**/deer_node', '/a/b/deer_node'): True,
             ('/*/deer_node', '/deer_node'): False, ('/*/deer_node', '/arm/deer_node'): True,
             ('/arm/*', '/arm/deer_node'): True, ('/deer_nod', '/deer_node'): False,
             ('/**/deer_node', '/deer_node_2'): False}
    for (key, fqn), expected in cases.items():
        assert section_matches(key, fqn) is expected, (key, fqn)


def review(docs, given, rules=()):
    sources = ArgSources(tuple(docs), tuple(rules))
    return review_overrides('/deer_node', given, KNOWN, sources, docs)


def test_unknown_name_in_own_section_is_refused_with_the_closest_real_one():
    docs = {'robot.yaml': {'deer_node': {'ros__parameters': {
        'dry_rn': True, 'safety': {'max_translaton_m': 0.001}, 'cameras': ['a', 'b', 'c']}}}}
    result = review(docs, ['dry_rn', 'safety.max_translaton_m', 'cameras'])
    text = result.reason
    assert "'dry_rn' (did you mean 'dry_run'?), given in robot.yaml [/deer_node]" in text
    assert "'safety.max_translaton_m' (did you mean 'safety.max_translation_m'?)" in text
    assert "'cameras'" in text and len(result.refused) == 3 and not result.warnings


def test_wildcard_node_section_is_own_but_a_shared_section_only_warns():
    docs = {'a.yaml': {'/**/deer_node': {'ros__parameters': {'dry_rn': True}}},
            'b.yaml': {'/**': {'ros__parameters': {'use_sim_time': True, 'tasks': ['x']}}}}
    result = review(docs, ['dry_rn', 'use_sim_time', 'tasks'])
    assert len(result.refused) == 1 and "'dry_rn'" in result.refused[0]
    assert len(result.warnings) == 1 and "'tasks'" in result.warnings[0]
    assert 'b.yaml [/**]' in result.warnings[0]


def test_a_name_in_both_a_shared_and_the_own_section_is_refused():
    docs = {'a.yaml': {'/**': {'ros__parameters': {'dry_rn': True}},
                       '/deer_node': {'ros__parameters': {'dry_rn': True}}}}
    assert len(review(docs, ['dry_rn']).refused) == 1


def test_p_rules_are_own_and_rules_for_another_node_warn():
    result = review({}, ['safety.max_translaton_m'],
                    rules=[('', 'safety.max_translaton_m'), ('sim_node', 'tasks')])
    assert '-p safety.max_translaton_m' in result.reason
    assert result.warnings == ("-p sim_node:tasks names node 'sim_node', not 'deer_node': "
                               'not applied here',)


def test_constructor_overrides_are_own():
    assert 'parameter_overrides' in review({}, ['dry_rn']).reason


def test_params_file_with_no_section_for_the_node_warns():
    docs = {'typo.yaml': {'deer_nod': {'ros__parameters': {'dry_run': True}}},
            'ok.yaml': {'/**': {'ros__parameters': {'use_sim_time': True}}}}
    result = review(docs, ['use_sim_time'])
    assert not result.refused and len(result.warnings) == 1
    assert 'typo.yaml: no section applies to /deer_node (its sections: /deer_nod)' in \
        result.warnings[0]
    assert "is '/deer_nod' meant to be '/deer_node'?" in result.warnings[0]


def test_known_names_pass():
    docs = {'a.yaml': {'deer_node': {'ros__parameters': {'dry_run': True,
                                                         'use_sim_time': True}}}}
    result = review(docs, ['dry_run', 'use_sim_time'])
    assert not result.refused and not result.warnings


def test_type_refusal_says_the_types_in_words():
    assert type_refusal('x', 'double', 'double') is None
    assert type_refusal('control_rate_hz', 'double', 'integer') == (
        'control_rate_hz takes a double (a number with a decimal point, e.g. 1.0), not an '
        'integer: write 5.0 for 5')
    assert type_refusal('dry_run', 'bool', 'string') == (
        'dry_run takes a boolean (true or false), not a string')
    assert 'cannot be deleted' in type_refusal('dry_run', 'bool', 'not_set')
