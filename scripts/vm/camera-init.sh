#!/bin/busybox sh
# /init of the camera test VM (scripts/vm-camera-test.sh builds the initramfs around it):
# loads vivid and the media modules it needs, lists the cameras (without and with a by-id
# link), then runs a headless viewer
# and a camera streamer on 127.0.0.1 for every line of /cases (one unplugs and replugs the
# camera on the way), and ships all the output as a
# base64 tar on the second serial port. The host checks everything; this only collects it.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp/out
ip link set lo up

out=/tmp/out
# Dependency order, one module per line, as the host resolved it from each .ko's depends=.
while read -r mod; do
  params=""
  # One instance, single-planar capture (the kind webcams have).
  [ "$mod" = vivid ] && params="n_devs=1 multiplanar=1"
  insmod "/modules/$mod.ko" $params >>"$out/insmod.txt" 2>&1 || echo "insmod $mod failed" >>"$out/insmod.txt"
done </modules/order
for n in /sys/class/video4linux/*; do
  [ -e "$n/name" ] && echo "$(basename "$n") $(cat "$n/name")" >>"$out/nodes.txt"
done
timeout 60 /usr/bin/streamer --list-cameras >"$out/list.out" 2>"$out/list.err"
echo "$?" >"$out/list.rc"
# There is no udev here, so no /dev/v4l/by-id link: the list above shows the /dev/videoN
# fallback. Make the link udev makes for a USB camera and list again for the by-id block.
for n in /sys/class/video4linux/*; do
  case "$(cat "$n/name" 2>/dev/null)" in
    *-vid-cap)
      mkdir -p /dev/v4l/by-id
      ln -s "../../$(basename "$n")" /dev/v4l/by-id/usb-Test_vivid_0001-video-index0
      break
      ;;
  esac
done
timeout 60 /usr/bin/streamer --list-cameras >"$out/list-byid.out" 2>"$out/list-byid.err"
echo "$?" >"$out/list-byid.rc"
echo "camera-init: $(wc -l <"$out/list.out") lines from --list-cameras" >/dev/console
# Asking for a node that is not a camera must fail at once, naming it.
for n in 1 2; do
  timeout 30 /usr/bin/streamer --source camera --camera "$n" --frames 1 127.0.0.1:9 \
    >/dev/null 2>"$out/wrong-node-$n.err"
  echo "$?" >"$out/wrong-node-$n.rc"
done

port=9000
while IFS='|' read -r name frames args action; do
  [ -n "$name" ] || continue
  port=$((port + 1))
  if [ "$args" = @conf ]; then
    # The STREAMER_ARGS of the first block --list-cameras printed, as the service would use it.
    args=$(sed -n 's/^STREAMER_ARGS=//p' "$out/list-byid.out" | head -n 1)
    echo "$args" >"$out/$name.args"
  fi
  echo "camera-init: case $name: streamer $args" >/dev/console
  timeout 90 /usr/bin/viewer --headless --measure --listen "127.0.0.1:$port" --frames "$frames" \
    --snapshot "$out/$name.ppm" >"$out/$name.vout" 2>"$out/$name.verr" &
  vpid=$!
  if [ "$action" = unplug ]; then
    # Unbinding the driver is what a USB unplug does to a camera: the node goes away under
    # the open file. Binding it again is plugging the camera back in.
    (
      sleep 3
      dev=$(ls -d /sys/bus/platform/drivers/vivid/vivid* | head -1)
      dev=${dev##*/}
      echo "$dev" >/sys/bus/platform/drivers/vivid/unbind && echo "unplugged $dev"
      sleep 3
      echo "$dev" >/sys/bus/platform/drivers/vivid/bind && echo "plugged $dev back in"
    ) >"$out/$name.action" 2>&1 &
  fi
  # shellcheck disable=SC2086 # the case's arguments are meant to split
  timeout 90 /usr/bin/streamer --source camera --frames "$frames" $args "127.0.0.1:$port" \
    >"$out/$name.sout" 2>"$out/$name.serr"
  echo "$?" >"$out/$name.src"
  wait "$vpid"
  echo "$?" >"$out/$name.vrc"
done </cases

echo "camera-init: shipping results" >/dev/console
{
  echo "BEGIN-RESULTS"
  tar -cz -C "$out" . | base64
  echo "END-RESULTS"
} >/dev/ttyS1
sync
poweroff -f
