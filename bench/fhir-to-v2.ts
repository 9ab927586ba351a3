// FHIR → v2 throughput (docs/BENCHMARKS.md): `node --import tsx bench/fhir-to-v2.ts`. Bundles come from our v2 → FHIR.
import { readFileSync } from 'node:fs';
import { fhirToV2 } from '../transforms/fhir-v2/index.js';
import { v2ToFhir } from '../transforms/v2-fhir/index.js';
import { median, nowNs, secondsSince } from './lib/stats.js';
const dir = new URL('../test/fixtures/v2-fhir/', import.meta.url).pathname;
const lri = readFileSync(dir + 'ms__ORU_R01__LRI_2.0-NG_CBC_Typ_Message.hl7', 'utf8').replace(/^\uFEFF/, '');
const segs = lri.split(/\r\n|\r|\n/).filter(Boolean);
const obx = segs.filter((s) => s.startsWith('OBX|'));
const oru = segs.filter((s) => !s.startsWith('OBX|') && !s.startsWith('SPM|'));
let n = 0; const extra: string[] = [];
while ((oru.join('\r') + '\r' + extra.join('\r')).length < 20_000) { const s = obx[n % obx.length]!.split('|'); s[1] = String(++n); extra.push(s.join('|')); }
const oruText = [...oru, ...extra].join('\r') + '\r';
const adtText = 'MSH|^~\\&|ADT|HOSP|RCV|RFAC|20240101120000||ADT^A01^ADT_A01|C1|P|2.5.1\rEVN|A01|20240101120000\rPID|1||MRN123^^^HOSP^MR~999-99-9999^^^SSA^SS||DOE^JANE^Q^^^^L||19800101|F|||1 MAIN ST^^SPRINGFIELD^IL^62701^USA^H||^PRN^PH^^1^217^5551234|^WPN^PH^^1^217^5559876|EN|M||ACC123\rPV1|1|I|WARD^101^A^HOSP||||1234^SMITH^JOHN^^^DR^MD|||MED||||7|||1234^SMITH^JOHN^^^DR^MD|IN||||||||||||||||||||||||||20240101113000\rNK1|1|DOE^JOHN|SPO^Spouse^HL70063|1 MAIN ST^^SPRINGFIELD^IL^62701|^PRN^PH^^1^217^5551234\rAL1|1|DA|1545^PENICILLIN^RXNORM|SV|HIVES\rDG1|1||J18.9^Pneumonia^I10|||A\r';
const oruBundle = v2ToFhir(oruText).result;
const adtBundle = v2ToFhir(adtText).result;
function bench(name: string, input: unknown, opts: object) {
  const now = new Date(0);
  for (let i = 0; i < 300; i++) fhirToV2(input as never, { ...opts, now, controlId: 'B' });
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = nowNs(); let k = 0;
    while (secondsSince(t) < 1) { fhirToV2(input as never, { ...opts, now, controlId: 'B' }); k++; }
    rounds.push(k / secondsSince(t));
  }
  rounds.sort((a, b) => a - b);
  const out = fhirToV2(input as never, { ...opts, now, controlId: 'B' }).result;
  console.log(`${name}: input JSON ${JSON.stringify(input).length} B, output HL7 ${out.length} B, median ${Math.round(median(rounds))} conv/s (min ${Math.round(rounds[0]!)}, max ${Math.round(rounds[4]!)})`);
}
console.log(`ORU source ${oruText.length} B, ${extra.length} OBX; ADT source ${adtText.length} B`);
bench('ORU bundle → ORU^R01', oruBundle, {});
bench('ADT bundle → ADT^A08', adtBundle, { adtEvent: 'A08' });
