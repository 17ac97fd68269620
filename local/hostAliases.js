// Preloaded into a local app (node --require): resolves the names in HOST_ALIASES (JSON name -> IPv4) the way a
// pod's hostAliases entry does in /etc/hosts, and leaves every other lookup to the system resolver.

const dns = require("node:dns");

const aliases = JSON.parse(process.env.HOST_ALIASES || "{}");
const { lookup } = dns;
const promisesLookup = dns.promises.lookup;

dns.lookup = (hostname, options, callback) => {
  const cb = typeof options === "function" ? options : callback;
  const opts = typeof options === "object" && options !== null ? options : {};
  const ip = aliases[hostname];
  if (!ip) return lookup(hostname, options, callback);
  process.nextTick(() => (opts.all ? cb(null, [{ address: ip, family: 4 }]) : cb(null, ip, 4)));
  return undefined;
};
dns.promises.lookup = (hostname, options) => {
  const ip = aliases[hostname];
  if (!ip) return promisesLookup(hostname, options);
  return Promise.resolve(options?.all ? [{ address: ip, family: 4 }] : { address: ip, family: 4 });
};
