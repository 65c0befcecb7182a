// OPC-UA test peer for tbgateway: a node-opcua server built from a JSON node map.
//
//   node server.js <port|0> <nodemap.json> <pki-folder> [security.json]
//
// Prints "READY <endpointUrl>" once listening (port 0 picks a free port) and shuts down on SIGTERM/SIGINT.
// With a security file it also prints one line per activated session:
//   SESSION {"policy": "Basic256", "mode": "Sign", "user": "X509IdentityToken", "client": "<applicationUri>"}
// Endpoints: None/None and Basic256Sha256/SignAndEncrypt; anonymous and the node map's users. Unknown client
// certificates are accepted (a test peer only; bound to 127.0.0.1).
//
// The optional security file replaces the endpoints and user checks:
//   {
//     "policies": ["Basic128Rsa15", "Basic256", "Aes128_Sha256_RsaOaep"],  // SecurityPolicy names
//     "modes": ["Sign", "SignAndEncrypt"],       // MessageSecurityMode names; without "None" the None endpoint
//                                                // serves discovery only (GetEndpoints), never a session
//     "allowAnonymous": false,                   // default true
//     "trustedUserCerts": ["/path/user.der"]     // X.509 user tokens: only these (DER or PEM) are trusted; any
//   }                                            // other user certificate is rejected (BadIdentityTokenRejected)
//
// Node map:
//   {
//     "namespaces": ["urn:a", "urn:b"],          // registered in order: ns=2, ns=3, ... (ns=1 is the server's own)
//     "users": [{"username": "u", "password": "p"}],
//     "tickMs": 1000,                             // period of the simulated changes
//     "limits": {"maxNodesPerRead": 1000, "maxMonitoredItemsPerCall": 1000},  // OperationLimits (these defaults)
//     "objects": [{
//       "nodeId": "ns=3;i=1", "browseName": "TempSensor",
//       "parent": "ns=3;i=9",                     // an object defined before this one (default: the Objects folder)
//       "variables": [{"nodeId": "ns=3;i=2", "browseName": "Pressure", "dataType": "Double", "value": 1013.25,
//                      "array": false, "simulate": "counter" | "toggle" | "none",
//                      "late": true}],                       // added only on SIGUSR1 (a node that appears later)
//       "methods": [{"nodeId": "ns=3;i=20", "browseName": "multiply", "op": "multiply" | "add" | "echo",
//                    "inputs": [["a", "Int32"], ["b", "Int32"]], "outputs": [["result", "Int32"]]}]
//     }],
//     "generate": {"namespace": 2, "devices": 10, "variables": 100}   // Dev<i> objects with Double V<j> (s=Dev<i>.V<j>), counters
//     "later": [...]                              // objects as above, added on SIGUSR2
//   }
"use strict";
const fs = require("fs");
const path = require("path");
const {
  OPCUAServer, OPCUACertificateManager, Variant, DataType, VariantArrayType, StatusCodes,
  SecurityPolicy, MessageSecurityMode, resolveNodeId,
} = require("node-opcua");

const [portArg, mapFile, pkiDir, securityFile] = process.argv.slice(2);
if (!mapFile || !pkiDir) {
  console.error("usage: node server.js <port> <nodemap.json> <pki-folder>");
  process.exit(2);
}
const nodeMap = JSON.parse(fs.readFileSync(mapFile, "utf8"));
const security = securityFile ? JSON.parse(fs.readFileSync(securityFile, "utf8")) : null;

function toValue(dataType, v) {
  switch (dataType) {
    case "DateTime": return new Date(v);
    case "ByteString": return Buffer.from(v, "hex");
    case "Int64": case "UInt64": return [0, Number(v)];
    default: return v;
  }
}

function variant(spec, v) {
  const dt = DataType[spec.dataType];
  if (dt === undefined) throw new Error(`unknown dataType ${spec.dataType} of ${spec.browseName}`);
  if (spec.array) {
    return new Variant({ dataType: dt, arrayType: VariantArrayType.Array, value: v.map((x) => toValue(spec.dataType, x)) });
  }
  return new Variant({ dataType: dt, value: toValue(spec.dataType, v) });
}

function nsOf(addressSpace, nodeId) {
  return addressSpace.getNamespace(resolveNodeId(nodeId).namespace);
}

// securityOptions turns the security file into OPCUAServer options (the defaults when there is none).
async function securityOptions(sec) {
  if (!sec) {
    return {
      securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
      securityModes: [MessageSecurityMode.None, MessageSecurityMode.SignAndEncrypt],
      allowAnonymous: true,
    };
  }
  const pick = (table, kind) => (name) => {
    if (table[name] === undefined) throw new Error(`unknown ${kind} ${name} in the security file`);
    return table[name];
  };
  const userCertificateManager = new OPCUACertificateManager({
    rootFolder: path.join(pkiDir, "userpki"), automaticallyAcceptUnknownCertificate: false,
  });
  await userCertificateManager.initialize();
  for (const file of sec.trustedUserCerts || []) {
    let der = fs.readFileSync(file);
    const text = der.toString("latin1");
    if (text.startsWith("-----BEGIN")) {
      der = Buffer.from(text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
    }
    await userCertificateManager.trustCertificate(der);
  }
  return {
    securityPolicies: (sec.policies || []).map(pick(SecurityPolicy, "policy")),
    securityModes: (sec.modes || []).map(pick(MessageSecurityMode, "mode")),
    allowAnonymous: sec.allowAnonymous === undefined ? true : !!sec.allowAnonymous,
    userCertificateManager,
  };
}

async function main() {
  const certificateManager = new OPCUACertificateManager({
    rootFolder: path.join(pkiDir, "pki"), automaticallyAcceptUnknownCertificate: true,
  });
  await certificateManager.initialize();
  const users = nodeMap.users || [];
  const endpoints = await securityOptions(security);
  const server = new OPCUAServer({
    port: Number(portArg || 0), host: "127.0.0.1", hostname: "127.0.0.1", resourcePath: "/UA/Peer",
    serverCertificateManager: certificateManager,
    ...endpoints,
    isAuditing: false,
    userManager: { isValidUser: (u, p) => users.some((x) => x.username === u && x.password === p) },
    serverCapabilities: {
      maxSessions: 50,
      operationLimits: {
        maxNodesPerRead: (nodeMap.limits || {}).maxNodesPerRead || 1000,
        maxMonitoredItemsPerCall: (nodeMap.limits || {}).maxMonitoredItemsPerCall || 1000,
      },
    },
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace;
  for (const uri of nodeMap.namespaces || []) addressSpace.registerNamespace(uri);
  const objectsFolder = addressSpace.rootFolder.objects;
  const simulated = [];
  const late = [];
  process.on("SIGUSR1", () => {
    for (const [o, spec] of late.splice(0)) addVariable(nsOf(addressSpace, spec.nodeId), o, spec);
  });

  const addVariable = (ns, parent, spec) => {
    const v = ns.addVariable({
      componentOf: parent, nodeId: spec.nodeId, browseName: spec.browseName,
      dataType: spec.dataType, valueRank: spec.array ? 1 : -1,
      accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite",
      // 0: monitored items are told of every setValueFromSource as it happens (no periodic sampling).
      minimumSamplingInterval: 0,
    });
    v.setValueFromSource(variant(spec, spec.value));
    if (spec.simulate && spec.simulate !== "none") simulated.push({ v, spec });
    return v;
  };

  const addObject = (obj) => {
    const ns = nsOf(addressSpace, obj.nodeId);
    const parent = obj.parent ? addressSpace.findNode(obj.parent) : objectsFolder;
    const o = ns.addObject({ organizedBy: parent, nodeId: obj.nodeId, browseName: obj.browseName });
    for (const spec of obj.variables || []) {
      if (spec.late) late.push([o, spec]);
      else addVariable(nsOf(addressSpace, spec.nodeId), o, spec);
    }
    for (const m of obj.methods || []) {
      const arg = ([name, dt]) => ({ name, dataType: DataType[dt] });
      const method = nsOf(addressSpace, m.nodeId).addMethod(o, {
        nodeId: m.nodeId, browseName: m.browseName,
        inputArguments: (m.inputs || []).map(arg), outputArguments: (m.outputs || []).map(arg),
      });
      const outType = m.outputs && m.outputs.length ? DataType[m.outputs[0][1]] : null;
      method.bindMethod(async (inputs, context) => {
        const vals = inputs.map((x) => x.value);
        let out;
        if (m.op === "multiply") out = vals.reduce((a, b) => a * b, 1);
        else if (m.op === "add") out = vals.reduce((a, b) => a + b, 0);
        else out = vals[0];
        return { statusCode: StatusCodes.Good, outputArguments: outType === null ? [] : [{ dataType: outType, value: out }] };
      });
    }
  };
  for (const obj of nodeMap.objects || []) addObject(obj);
  // Devices that appear while the server runs: the "later" objects are added on SIGUSR2.
  process.on("SIGUSR2", () => { for (const obj of nodeMap.later || []) addObject(obj); });

  const gen = nodeMap.generate;
  if (gen) {
    const ns = addressSpace.getNamespace(gen.namespace || 1);
    for (let d = 0; d < gen.devices; d++) {
      const o = ns.addObject({ organizedBy: objectsFolder, nodeId: `ns=${ns.index};s=Dev${d}`, browseName: `Dev${d}` });
      for (let j = 0; j < gen.variables; j++) {
        addVariable(ns, o, { nodeId: `ns=${ns.index};s=Dev${d}.V${j}`, browseName: `V${j}`, dataType: "Double", value: j, simulate: "counter" });
      }
    }
  }

  const tick = () => {
    for (const s of simulated) {
      const cur = s.v.readValue().value.value;
      const next = s.spec.simulate === "toggle" ? !cur : cur + 1;
      s.v.setValueFromSource(new Variant({ dataType: DataType[s.spec.dataType], value: next }));
    }
  };
  const timer = simulated.length ? setInterval(tick, nodeMap.tickMs || 1000) : null;

  if (security) {
    server.on("session_activated", (session, token) => {
      const ch = session.channel;
      console.log("SESSION " + JSON.stringify({
        policy: ch ? ch.securityPolicy.split("#")[1] : "", mode: ch ? MessageSecurityMode[ch.securityMode] : "",
        user: token ? token.constructor.name : "", client: session.clientDescription ? session.clientDescription.applicationUri : "",
      }));
    });
  }
  await server.start();
  console.log(`READY ${server.getEndpointUrl()}`);
  const stop = async () => {
    if (timer) clearInterval(timer);
    await server.shutdown(0);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
