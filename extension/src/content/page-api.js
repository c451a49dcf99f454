// Content script, all frames of https pages and loopback http: the Web eID
// page API. See bridge.js.

import { api } from "../shared/api.js";
import { startBridge } from "./bridge.js";

startBridge(window, () => api.runtime.connect({ name: "webeid" }));
