"""ROS 2's sensor_msgs image types as Cyclone DDS IDL dataclasses, named as ROS 2's
rmw_cyclonedds names them on the wire (type sensor_msgs::msg::dds_::Image_, topic rt/NAME),
with the QoS the tests use. Shared by ros2_pub.py and ros2_sub.py."""

import os
from dataclasses import dataclass

from cyclonedds.idl import IdlStruct
from cyclonedds.idl._machinery import PlainCdrV2SequenceOfPrimitiveMachine
from cyclonedds.idl.types import int32, sequence, uint8, uint32
from cyclonedds.qos import Policy, Qos
from cyclonedds.util import duration


def _octets_as_bytes():
    """The binding packs a sequence<uint8> one Python int at a time (struct.pack with 67000
    arguments: 1.8 ms for a 720p JPEG, most of stamp-to-sample; a C or C++ camera node copies
    it in microseconds). Here a bytes-like value is written, and a sequence read, as one block
    of bytes: the same CDR on the wire (uint32 length, then the octets)."""
    machine = PlainCdrV2SequenceOfPrimitiveMachine
    serialize, deserialize = machine.serialize, machine.deserialize

    def fast_serialize(self, buffer, value, *args, **kwargs):
        if self.code != "B" or not isinstance(value, (bytes, bytearray, memoryview)):
            return serialize(self, buffer, value, *args, **kwargs)
        buffer.align(4)
        buffer.write("I", 4, len(value))
        buffer.write_bytes(value)
        return None

    def fast_deserialize(self, buffer, *args, **kwargs):
        if self.code != "B":
            return deserialize(self, buffer, *args, **kwargs)
        buffer.align(4)
        return buffer.read_bytes(buffer.read("I", 4))

    machine.serialize, machine.deserialize = fast_serialize, fast_deserialize


_octets_as_bytes()


@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: int32
    nanosec: uint32


@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time
    frame_id: str


@dataclass
class CompressedImage(IdlStruct, typename="sensor_msgs::msg::dds_::CompressedImage_"):
    header: Header
    format: str
    data: sequence[uint8]


@dataclass
class Image(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    header: Header
    height: uint32
    width: uint32
    encoding: str
    is_bigendian: uint8
    step: uint32
    data: sequence[uint8]


def qos(reliable):
    """Sensor-data QoS (best effort) or the default (reliable), history of one."""
    if reliable:
        rel = Policy.Reliability.Reliable(duration(seconds=1))
    else:
        rel = Policy.Reliability.BestEffort
    return Qos(rel, Policy.History.KeepLast(1), Policy.Durability.Volatile)


def stamp(ns):
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def dds_topic(ros_topic):
    return "rt/" + ros_topic.lstrip("/")


def loopback_only():
    """Cyclone on the namespace's loopback, with multicast (the tests' DDS box), in datagrams
    as large as loopback carries: a multi-megabyte image is then a hundred packets rather than
    six thousand, which a busy reader drains before its socket buffer overflows."""
    os.environ.setdefault(
        "CYCLONEDDS_URI",
        "<CycloneDDS><Domain><General><Interfaces>"
        '<NetworkInterface name="lo" multicast="true"/>'
        "</Interfaces><MaxMessageSize>65000B</MaxMessageSize>"
        "<FragmentSize>60000B</FragmentSize></General></Domain></CycloneDDS>",
    )
