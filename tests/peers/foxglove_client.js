// npm @foxglove/ws-protocol's own FoxgloveClient (on the `ws` package; scripts/npm-env.sh)
// against the hub (tests/foxglove.rs): subscribes to the first advertised image channel and
// writes each message's JPEG (cut out of the CDR CompressedImage) to OUT/NNNN.jpg.
// Usage: node foxglove_client.js URL FRAMES OUT. Prints: frames= topic= schema=.
"use strict";
const fs = require("fs");
const path = require("path");
const { FoxgloveClient } = require("@foxglove/ws-protocol");
const WebSocket = require("ws");

const [url, wanted, out] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const client = new FoxgloveClient({
  ws: new WebSocket(url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]),
});
const timer = setTimeout(() => { console.log(`timeout frames=${frames}`); process.exit(1); }, 30000);
let frames = 0, topic = "", schema = "", image;

// The JPEG of a little-endian CDR sensor_msgs/msg/CompressedImage.
function jpegOf(view) {
  let p = 4;
  const u32 = () => { p += (4 - ((p - 4) % 4)) % 4; const v = view.getUint32(p, true); p += 4; return v; };
  u32(); u32(); // stamp
  let n = u32(); p += n; // frame_id
  n = u32(); p += n; // format
  const len = u32();
  if (p + len !== view.byteLength) throw new Error(`data ends at ${p + len} of ${view.byteLength}`);
  return Buffer.from(view.buffer, view.byteOffset + p, len);
}

client.on("advertise", (channels) => {
  const c = channels.find((c) => c.topic.endsWith("/image/compressed"));
  if (c && image === undefined) {
    ({ topic, schemaName: schema } = c);
    image = client.subscribe(c.id);
  }
});
client.on("message", ({ subscriptionId, data }) => {
  if (subscriptionId !== image || frames >= wanted) return;
  fs.writeFileSync(path.join(out, `${String(frames).padStart(4, "0")}.jpg`), jpegOf(data));
  frames += 1;
  if (frames === wanted) {
    clearTimeout(timer);
    console.log(`frames=${frames} topic=${topic} schema=${schema}`);
    client.close();
    process.exit(0);
  }
});
client.on("error", (e) => { console.log(`error=${JSON.stringify(String(e))}`); process.exit(1); });
