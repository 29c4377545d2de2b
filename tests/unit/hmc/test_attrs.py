from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.hmc import attrs


def test_quoted_token_with_commas_and_doubled_quotes():
    line = 'a=1,"b=x,y",c=,"d=say ""hi"", ok"'
    assert attrs.parse_attr_line(line) == {"a": "1", "b": "x,y", "c": "", "d": 'say "hi", ok'}


def test_format_roundtrip():
    pairs = [("name", "lizard"), ("backing_devices", "sriov/a,sriov/b"), ("text", 'he said "x"')]
    line = attrs.format_attr_line(pairs)
    assert line == 'name=lizard,"backing_devices=sriov/a,sriov/b","text=he said ""x"""'
    assert attrs.parse_attr_line(line) == dict(pairs)


def test_attr_input_forms_of_the_source_material():
    a = attrs.parse_attr_input('port_vlan_id=3455,auto_priority_failover=1,'
                               'backing_devices="sriov/vios1//1/1/2.0/10,sriov/vios1//3/1/2.0/20"')
    assert a == [("port_vlan_id", "=", "3455"), ("auto_priority_failover", "=", "1"),
                 ("backing_devices", "=", "sriov/vios1//1/1/2.0/10,sriov/vios1//3/1/2.0/20")]
    b = attrs.parse_attr_input('"backing_devices+=sriov/vios1//2/1/2.0/30,sriov/vios2//4/1/2.0/40"')
    assert b == [("backing_devices", "+=", "sriov/vios1//2/1/2.0/30,sriov/vios2//4/1/2.0/40")]
    assert attrs.parse_attr_input("backing_devices-=sriov/v//1/0/2.0/5") == [
        ("backing_devices", "-=", "sriov/v//1/0/2.0/5")]
    with pytest.raises(InvalidInput):
        attrs.parse_attr_input("not an assignment")


def test_field_delimiter_from_the_list():
    assert attrs.field_delimiter("name:state") == (["name", "state"], ":")
    assert attrs.field_delimiter("a%b%c") == (["a", "b", "c"], "%")
    assert attrs.field_delimiter("slot_num") == (["slot_num"], ",")
    with pytest.raises(InvalidInput):
        attrs.field_delimiter("a:b,c")


def test_field_lines_quote_only_when_needed():
    assert attrs.format_field_line(["6", "x,y"], ",") == '6,"x,y"'
    assert attrs.format_field_line(["6", "x,y"], "%") == "6%x,y"
    assert attrs.parse_field_line('6,"x,y"', ["slot", "states"], ",") == {"slot": "6", "states": "x,y"}


def test_filters_multi_value():
    f = attrs.parse_filter('"lpar_names=lizard,gecko",slots=6')
    assert f == {"lpar_names": ["lizard", "gecko"], "slots": ["6"]}
    assert attrs.build_filter({"lpar_names": ["a", "b"]}) == '"lpar_names=a,b"'
    assert attrs.build_filter({"lpar_names": ["a"]}) == "lpar_names=a"


def test_no_results():
    assert attrs.records("No results were found.\n") == []
