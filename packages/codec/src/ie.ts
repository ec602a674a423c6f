// A subset of the IANA "IPFIX Information Elements" registry
// (https://www.iana.org/assignments/ipfix/ipfix.xhtml): id, exact IANA name
// and abstract data type (RFC 7011 §6.1, RFC 7012). NetFlow v9 field types
// 1–127 share these ids, so one table serves both protocols.

export type AbstractType =
  | 'octetArray'
  | 'unsigned8'
  | 'unsigned16'
  | 'unsigned32'
  | 'unsigned64'
  | 'signed8'
  | 'signed16'
  | 'signed32'
  | 'signed64'
  | 'float32'
  | 'float64'
  | 'boolean'
  | 'macAddress'
  | 'string'
  | 'dateTimeSeconds'
  | 'dateTimeMilliseconds'
  | 'dateTimeMicroseconds'
  | 'dateTimeNanoseconds'
  | 'ipv4Address'
  | 'ipv6Address'
  | 'basicList'
  | 'subTemplateList'
  | 'subTemplateMultiList';

export interface InformationElement {
  readonly id: number;
  readonly name: string;
  readonly type: AbstractType;
}

/** RFC 5103: enterprise number whose elements are the reverse direction of IANA element of the same id. */
export const REVERSE_PEN = 29305;

const T: Record<string, AbstractType> = {
  oa: 'octetArray',
  u8: 'unsigned8',
  u16: 'unsigned16',
  u32: 'unsigned32',
  u64: 'unsigned64',
  s32: 'signed32',
  s64: 'signed64',
  f64: 'float64',
  bool: 'boolean',
  mac: 'macAddress',
  str: 'string',
  ts: 'dateTimeSeconds',
  tms: 'dateTimeMilliseconds',
  tus: 'dateTimeMicroseconds',
  tns: 'dateTimeNanoseconds',
  ip4: 'ipv4Address',
  ip6: 'ipv6Address',
  bl: 'basicList',
  stl: 'subTemplateList',
  stml: 'subTemplateMultiList',
};

// "id name type" per line; kept as text so the table reads like the registry.
const TABLE = `
1 octetDeltaCount u64
2 packetDeltaCount u64
3 deltaFlowCount u64
4 protocolIdentifier u8
5 ipClassOfService u8
6 tcpControlBits u16
7 sourceTransportPort u16
8 sourceIPv4Address ip4
9 sourceIPv4PrefixLength u8
10 ingressInterface u32
11 destinationTransportPort u16
12 destinationIPv4Address ip4
13 destinationIPv4PrefixLength u8
14 egressInterface u32
15 ipNextHopIPv4Address ip4
16 bgpSourceAsNumber u32
17 bgpDestinationAsNumber u32
18 bgpNextHopIPv4Address ip4
19 postMCastPacketDeltaCount u64
20 postMCastOctetDeltaCount u64
21 flowEndSysUpTime u32
22 flowStartSysUpTime u32
23 postOctetDeltaCount u64
24 postPacketDeltaCount u64
25 minimumIpTotalLength u64
26 maximumIpTotalLength u64
27 sourceIPv6Address ip6
28 destinationIPv6Address ip6
29 sourceIPv6PrefixLength u8
30 destinationIPv6PrefixLength u8
31 flowLabelIPv6 u32
32 icmpTypeCodeIPv4 u16
33 igmpType u8
34 samplingInterval u32
35 samplingAlgorithm u8
36 flowActiveTimeout u16
37 flowIdleTimeout u16
38 engineType u8
39 engineId u8
40 exportedOctetTotalCount u64
41 exportedMessageTotalCount u64
42 exportedFlowRecordTotalCount u64
43 ipv4RouterSc ip4
44 sourceIPv4Prefix ip4
45 destinationIPv4Prefix ip4
46 mplsTopLabelType u8
47 mplsTopLabelIPv4Address ip4
48 samplerId u8
49 samplerMode u8
50 samplerRandomInterval u32
51 classId u8
52 minimumTTL u8
53 maximumTTL u8
54 fragmentIdentification u32
55 postIpClassOfService u8
56 sourceMacAddress mac
57 postDestinationMacAddress mac
58 vlanId u16
59 postVlanId u16
60 ipVersion u8
61 flowDirection u8
62 ipNextHopIPv6Address ip6
63 bgpNextHopIPv6Address ip6
64 ipv6ExtensionHeaders u32
70 mplsTopLabelStackSection oa
71 mplsLabelStackSection2 oa
72 mplsLabelStackSection3 oa
73 mplsLabelStackSection4 oa
74 mplsLabelStackSection5 oa
75 mplsLabelStackSection6 oa
76 mplsLabelStackSection7 oa
77 mplsLabelStackSection8 oa
78 mplsLabelStackSection9 oa
79 mplsLabelStackSection10 oa
80 destinationMacAddress mac
81 postSourceMacAddress mac
82 interfaceName str
83 interfaceDescription str
84 samplerName str
85 octetTotalCount u64
86 packetTotalCount u64
87 flagsAndSamplerId u32
88 fragmentOffset u16
89 forwardingStatus u32
90 mplsVpnRouteDistinguisher oa
91 mplsTopLabelPrefixLength u8
92 srcTrafficIndex u32
93 dstTrafficIndex u32
94 applicationDescription str
95 applicationId oa
96 applicationName str
98 postIpDiffServCodePoint u8
99 multicastReplicationFactor u32
100 className str
101 classificationEngineId u8
102 layer2packetSectionOffset u16
103 layer2packetSectionSize u16
104 layer2packetSectionData oa
128 bgpNextAdjacentAsNumber u32
129 bgpPrevAdjacentAsNumber u32
130 exporterIPv4Address ip4
131 exporterIPv6Address ip6
132 droppedOctetDeltaCount u64
133 droppedPacketDeltaCount u64
134 droppedOctetTotalCount u64
135 droppedPacketTotalCount u64
136 flowEndReason u8
137 commonPropertiesId u64
138 observationPointId u64
139 icmpTypeCodeIPv6 u16
140 mplsTopLabelIPv6Address ip6
141 lineCardId u32
142 portId u32
143 meteringProcessId u32
144 exportingProcessId u32
145 templateId u16
146 wlanChannelId u8
147 wlanSSID str
148 flowId u64
149 observationDomainId u32
150 flowStartSeconds ts
151 flowEndSeconds ts
152 flowStartMilliseconds tms
153 flowEndMilliseconds tms
154 flowStartMicroseconds tus
155 flowEndMicroseconds tus
156 flowStartNanoseconds tns
157 flowEndNanoseconds tns
158 flowStartDeltaMicroseconds u32
159 flowEndDeltaMicroseconds u32
160 systemInitTimeMilliseconds tms
161 flowDurationMilliseconds u32
162 flowDurationMicroseconds u32
163 observedFlowTotalCount u64
164 ignoredPacketTotalCount u64
165 ignoredOctetTotalCount u64
166 notSentFlowTotalCount u64
167 notSentPacketTotalCount u64
168 notSentOctetTotalCount u64
169 destinationIPv6Prefix ip6
170 sourceIPv6Prefix ip6
171 postOctetTotalCount u64
172 postPacketTotalCount u64
173 flowKeyIndicator u64
174 postMCastPacketTotalCount u64
175 postMCastOctetTotalCount u64
176 icmpTypeIPv4 u8
177 icmpCodeIPv4 u8
178 icmpTypeIPv6 u8
179 icmpCodeIPv6 u8
180 udpSourcePort u16
181 udpDestinationPort u16
182 tcpSourcePort u16
183 tcpDestinationPort u16
184 tcpSequenceNumber u32
185 tcpAcknowledgementNumber u32
186 tcpWindowSize u16
187 tcpUrgentPointer u16
188 tcpHeaderLength u8
189 ipHeaderLength u8
190 totalLengthIPv4 u16
191 payloadLengthIPv6 u16
192 ipTTL u8
193 nextHeaderIPv6 u8
194 mplsPayloadLength u32
195 ipDiffServCodePoint u8
196 ipPrecedence u8
197 fragmentFlags u8
198 octetDeltaSumOfSquares u64
199 octetTotalSumOfSquares u64
200 mplsTopLabelTTL u8
201 mplsLabelStackLength u32
202 mplsLabelStackDepth u32
203 mplsTopLabelExp u8
204 ipPayloadLength u32
205 udpMessageLength u16
206 isMulticast u8
207 ipv4IHL u8
208 ipv4Options u32
209 tcpOptions u64
210 paddingOctets oa
211 collectorIPv4Address ip4
212 collectorIPv6Address ip6
213 exportInterface u32
214 exportProtocolVersion u8
215 exportTransportProtocol u8
216 collectorTransportPort u16
217 exporterTransportPort u16
218 tcpSynTotalCount u64
219 tcpFinTotalCount u64
220 tcpRstTotalCount u64
221 tcpPshTotalCount u64
222 tcpAckTotalCount u64
223 tcpUrgTotalCount u64
224 ipTotalLength u64
225 postNATSourceIPv4Address ip4
226 postNATDestinationIPv4Address ip4
227 postNAPTSourceTransportPort u16
228 postNAPTDestinationTransportPort u16
229 natOriginatingAddressRealm u8
230 natEvent u8
231 initiatorOctets u64
232 responderOctets u64
233 firewallEvent u8
234 ingressVRFID u32
235 egressVRFID u32
236 VRFname str
237 postMplsTopLabelExp u8
238 tcpWindowScale u16
239 biflowDirection u8
240 ethernetHeaderLength u8
241 ethernetPayloadLength u16
242 ethernetTotalLength u16
243 dot1qVlanId u16
244 dot1qPriority u8
245 dot1qCustomerVlanId u16
246 dot1qCustomerPriority u8
247 metroEvcId str
248 metroEvcType u8
249 pseudoWireId u32
250 pseudoWireType u16
251 pseudoWireControlWord u32
252 ingressPhysicalInterface u32
253 egressPhysicalInterface u32
254 postDot1qVlanId u16
255 postDot1qCustomerVlanId u16
256 ethernetType u16
257 postIpPrecedence u8
258 collectionTimeMilliseconds tms
259 exportSctpStreamId u16
260 maxExportSeconds ts
261 maxFlowEndSeconds ts
262 messageMD5Checksum oa
263 messageScope u8
264 minExportSeconds ts
265 minFlowStartSeconds ts
266 opaqueOctets oa
267 sessionScope u8
268 maxFlowEndMicroseconds tus
269 maxFlowEndMilliseconds tms
270 maxFlowEndNanoseconds tns
271 minFlowStartMicroseconds tus
272 minFlowStartMilliseconds tms
273 minFlowStartNanoseconds tns
274 collectorCertificate oa
275 exporterCertificate oa
276 dataRecordsReliability bool
277 observationPointType u8
278 newConnectionDeltaCount u32
279 connectionSumDurationSeconds u64
280 connectionTransactionId u64
281 postNATSourceIPv6Address ip6
282 postNATDestinationIPv6Address ip6
283 natPoolId u32
284 natPoolName str
285 anonymizationFlags u16
286 anonymizationTechnique u16
287 informationElementIndex u16
288 p2pTechnology str
289 tunnelTechnology str
290 encryptedTechnology str
291 basicList bl
292 subTemplateList stl
293 subTemplateMultiList stml
294 bgpValidityState u8
295 IPSecSPI u32
296 greKey u32
297 natType u8
298 initiatorPackets u64
299 responderPackets u64
300 observationDomainName str
301 selectionSequenceId u64
302 selectorId u64
303 informationElementId u16
304 selectorAlgorithm u16
305 samplingPacketInterval u32
306 samplingPacketSpace u32
307 samplingTimeInterval u32
308 samplingTimeSpace u32
309 samplingSize u32
310 samplingPopulation u32
311 samplingProbability f64
312 dataLinkFrameSize u16
313 ipHeaderPacketSection oa
314 ipPayloadPacketSection oa
315 dataLinkFrameSection oa
316 mplsLabelStackSection oa
317 mplsPayloadPacketSection oa
318 selectorIdTotalPktsObserved u64
319 selectorIdTotalPktsSelected u64
320 absoluteError f64
321 relativeError f64
322 observationTimeSeconds ts
323 observationTimeMilliseconds tms
324 observationTimeMicroseconds tus
325 observationTimeNanoseconds tns
326 digestHashValue u64
327 hashIPPayloadOffset u64
328 hashIPPayloadSize u64
329 hashOutputRangeMin u64
330 hashOutputRangeMax u64
331 hashSelectedRangeMin u64
332 hashSelectedRangeMax u64
333 hashDigestOutput bool
334 hashInitialiserValue u64
335 selectorName str
336 upperCILimit f64
337 lowerCILimit f64
338 confidenceLevel f64
339 informationElementDataType u8
340 informationElementDescription str
341 informationElementName str
342 informationElementRangeBegin u64
343 informationElementRangeEnd u64
344 informationElementSemantics u8
345 informationElementUnits u16
346 privateEnterpriseNumber u32
347 virtualStationInterfaceId oa
348 virtualStationInterfaceName str
349 virtualStationUUID oa
350 virtualStationName str
351 layer2SegmentId u64
352 layer2OctetDeltaCount u64
353 layer2OctetTotalCount u64
354 ingressUnicastPacketTotalCount u64
355 ingressMulticastPacketTotalCount u64
356 ingressBroadcastPacketTotalCount u64
357 egressUnicastPacketTotalCount u64
358 egressBroadcastPacketTotalCount u64
359 monitoringIntervalStartMilliSeconds tms
360 monitoringIntervalEndMilliSeconds tms
361 portRangeStart u16
362 portRangeEnd u16
363 portRangeStepSize u16
364 portRangeNumPorts u16
365 staMacAddress mac
366 staIPv4Address ip4
367 wtpMacAddress mac
368 ingressInterfaceType u32
369 egressInterfaceType u32
370 rtpSequenceNumber u16
371 userName str
372 applicationCategoryName str
373 applicationSubCategoryName str
374 applicationGroupName str
375 originalFlowsPresent u64
376 originalFlowsInitiated u64
377 originalFlowsCompleted u64
378 distinctCountOfSourceIPAddress u64
379 distinctCountOfDestinationIPAddress u64
380 distinctCountOfSourceIPv4Address u32
381 distinctCountOfDestinationIPv4Address u32
382 distinctCountOfSourceIPv6Address u64
383 distinctCountOfDestinationIPv6Address u64
384 valueDistributionMethod u8
385 rfc3550JitterMilliseconds u32
386 rfc3550JitterMicroseconds u32
387 rfc3550JitterNanoseconds u32
388 dot1qDEI bool
389 dot1qCustomerDEI bool
390 flowSelectorAlgorithm u16
391 flowSelectedOctetDeltaCount u64
392 flowSelectedPacketDeltaCount u64
393 flowSelectedFlowDeltaCount u64
394 selectorIDTotalFlowsObserved u64
395 selectorIDTotalFlowsSelected u64
396 samplingFlowInterval u64
397 samplingFlowSpacing u64
398 flowSamplingTimeInterval u64
399 flowSamplingTimeSpacing u64
400 hashFlowDomain u16
401 transportOctetDeltaCount u64
402 transportPacketDeltaCount u64
403 originalExporterIPv4Address ip4
404 originalExporterIPv6Address ip6
405 originalObservationDomainId u32
406 intermediateProcessId u32
407 ignoredDataRecordTotalCount u64
408 dataLinkFrameType u16
409 sectionOffset u16
410 sectionExportedOctets u16
411 dot1qServiceInstanceTag oa
412 dot1qServiceInstanceId u32
413 dot1qServiceInstancePriority u8
414 dot1qCustomerSourceMacAddress mac
415 dot1qCustomerDestinationMacAddress mac
417 postLayer2OctetDeltaCount u64
418 postMCastLayer2OctetDeltaCount u64
420 postLayer2OctetTotalCount u64
421 postMCastLayer2OctetTotalCount u64
422 minimumLayer2TotalLength u64
423 maximumLayer2TotalLength u64
424 droppedLayer2OctetDeltaCount u64
425 droppedLayer2OctetTotalCount u64
426 ignoredLayer2OctetTotalCount u64
427 notSentLayer2OctetTotalCount u64
428 layer2OctetDeltaSumOfSquares u64
429 layer2OctetTotalSumOfSquares u64
430 layer2FrameDeltaCount u64
431 layer2FrameTotalCount u64
432 pseudoWireDestinationIPv4Address ip4
433 ignoredLayer2FrameTotalCount u64
434 mibObjectValueInteger s32
435 mibObjectValueOctetString oa
436 mibObjectValueOID oa
437 mibObjectValueBits oa
438 mibObjectValueIPAddress ip4
439 mibObjectValueCounter u64
440 mibObjectValueGauge u32
441 mibObjectValueTimeTicks u32
442 mibObjectValueUnsigned u32
443 mibObjectValueTable stl
444 mibObjectValueRow stl
445 mibObjectIdentifier oa
446 mibSubIdentifier u32
447 mibIndexIndicator u64
448 mibCaptureTimeSemantics u8
449 mibContextEngineID oa
450 mibContextName str
451 mibObjectName str
452 mibObjectDescription str
453 mibObjectSyntax str
454 mibModuleName str
455 mobileIMSI str
456 mobileMSISDN str
457 httpStatusCode u16
458 sourceTransportPortsLimit u16
459 httpRequestMethod str
460 httpRequestHost str
461 httpRequestTarget str
462 httpMessageVersion str
463 natInstanceID u32
464 internalAddressRealm oa
465 externalAddressRealm oa
466 natQuotaExceededEvent u32
467 natThresholdEvent u32
`;

const BY_ID = new Map<number, InformationElement>();
const BY_NAME = new Map<string, InformationElement>();
for (const line of TABLE.split('\n')) {
  if (!line) continue;
  const [id, name, t] = line.split(' ');
  const ie: InformationElement = Object.freeze({ id: Number(id), name, type: T[t] });
  BY_ID.set(ie.id, ie);
  BY_NAME.set(name, ie);
}

/** IANA element by id (enterprise 0), or undefined when not in this subset. */
export function ianaElement(id: number): InformationElement | undefined {
  return BY_ID.get(id);
}

/** IANA element by its exact IANA name. */
export function ianaElementByName(name: string): InformationElement | undefined {
  return BY_NAME.get(name);
}

/** Every element of the subset, by ascending id. */
export function ianaElements(): InformationElement[] {
  return [...BY_ID.values()];
}

/**
 * Name of a template field as the generic decoder prints it: the IANA name,
 * `reverse<Name>` for RFC 5103 reverse elements, `"<pen>.<id>"` otherwise
 * (enterprise 0 included, for ids this subset or IANA does not name).
 */
export function fieldName(id: number, enterprise: number): string {
  if (enterprise === 0) {
    const ie = BY_ID.get(id);
    return ie ? ie.name : `0.${id}`;
  }
  if (enterprise === REVERSE_PEN) {
    const ie = BY_ID.get(id);
    if (ie) return `reverse${ie.name[0].toUpperCase()}${ie.name.slice(1)}`;
  }
  return `${enterprise}.${id}`;
}

/** Abstract type of a field, or undefined when unknown (enterprise elements other than reverse ones). */
export function fieldType(id: number, enterprise: number): AbstractType | undefined {
  if (enterprise === 0 || enterprise === REVERSE_PEN) return BY_ID.get(id)?.type;
  return undefined;
}

/** NetFlow v9 options scope field types (RFC 3954 §6.1); they are not IPFIX elements. */
export const V9_SCOPE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  1: 'scopeSystem',
  2: 'scopeInterface',
  3: 'scopeLineCard',
  4: 'scopeCache',
  5: 'scopeTemplate',
});
