/* dashboard.c — the HTML of the dashboard (DESIGN §6.2, "GET /").
 *
 * Owns the page text. The page draws, per cohort and region: the funnel
 * (overstappers → keuze → aangemeld → geplaatst → ingeschreven), a bar per vo
 * school for definitief_pct with the target line, and open alerts by kind.
 * Every figure it shows carries a data-* attribute so tests can read them.
 */
#include "dashboard.h"

#include <event2/buffer.h>

static const char PAGE_HEAD[] =
	"<!doctype html>\n<html lang=\"nl\"><head><meta charset=\"utf-8\">\n"
	"<title>overstapd — overstap vo-mbo</title>\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<style>\n"
	"body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b2430;background:#f4f6f8}\n"
	"header{background:#123a5c;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:center}\n"
	"header h1{font-size:18px;margin:0;font-weight:600}\n"
	"header label{font-size:13px}select,input{font:inherit;padding:2px 4px}\n"
	"main{display:grid;grid-template-columns:1fr 1fr;gap:16px;padding:16px 24px}\n"
	"section{background:#fff;border-radius:6px;padding:12px 16px;box-shadow:0 1px 2px #0002}\n"
	"section.wide{grid-column:1 / span 2}\n"
	"h2{font-size:15px;margin:0 0 8px}\n"
	".kpi{display:flex;gap:24px}.kpi div{font-size:12px;color:#556}\n"
	".kpi b{display:block;font-size:24px;color:#123a5c}\n"
	".alerts{display:flex;gap:12px}.alerts div{flex:1;border-left:4px solid #c0392b;padding:4px 8px;background:#fbeeee}\n"
	".alerts b{display:block;font-size:22px}\n"
	"#status{font-size:12px;margin-left:auto;opacity:.8}\n"
	"svg text{font-size:11px;fill:#1b2430}\n"
	"</style></head><body>\n";

static const char PAGE_BODY[] =
	"<header><h1>Overstap vo-mbo</h1>\n"
	"<label>Cohort <input id=\"cohort\" type=\"number\" min=\"1990\" max=\"2200\" style=\"width:6em\"></label>\n"
	"<label>Regio <select id=\"region\"></select></label>\n"
	"<span id=\"status\">laden…</span></header>\n"
	"<main>\n"
	"<section><h2>In beeld en geplaatst</h2><div class=\"kpi\" id=\"kpi\"></div></section>\n"
	"<section><h2>Open signalen</h2><div class=\"alerts\" id=\"alerts\"></div></section>\n"
	"<section class=\"wide\"><h2>Trechter</h2><svg id=\"funnel\" width=\"100%\" height=\"190\"></svg></section>\n"
	"<section class=\"wide\"><h2>Definitief geplaatst per vo-school (streefwaarde als lijn)</h2>"
	"<svg id=\"schools\" width=\"100%\" height=\"60\"></svg></section>\n"
	"</main>\n";

static const char PAGE_SCRIPT[] =
	"<script>\n"
	"'use strict';\n"
	"const NS='http://www.w3.org/2000/svg';\n"
	"const q=new URLSearchParams(location.search);\n"
	"const cohortIn=document.getElementById('cohort');\n"
	"const regionSel=document.getElementById('region');\n"
	"cohortIn.value=q.get('cohort')||String(CONFIG.cohort);\n"
	"let region=q.get('region')||'';\n"
	"function el(tag,attrs,text){const e=document.createElementNS(NS,tag);"
	"for(const k in attrs)e.setAttribute(k,attrs[k]);if(text!==undefined)e.textContent=text;return e;}\n"
	"function pct(x){return x.toFixed(1).replace('.',',')+'%';}\n"
	"async function get(path){const r=await fetch(path,{cache:'no-store'});"
	"if(!r.ok)throw new Error(path+': '+r.status);return r.json();}\n"
	"function kpi(row,t){const k=document.getElementById('kpi');k.textContent='';\n"
	" const items=[['in_beeld_pct','in beeld met keuze',t.in_beeld_pct],['definitief_pct','definitief geplaatst',t.definitief_pct],"
	"['ddd_pct','met doorstroomdossier',t.ddd_pct]];\n"
	" for(const [key,label,target] of items){const d=document.createElement('div');const b=document.createElement('b');\n"
	"  b.textContent=pct(row[key]);b.dataset.metric=key;b.dataset.value=String(row[key]);d.append(b,label+' (doel '+target+'%)');k.append(d);}\n"
	" const d=document.createElement('div');const b=document.createElement('b');b.textContent=row.overstappers;"
	"b.dataset.metric='overstappers';b.dataset.value=String(row.overstappers);d.append(b,'overstappers');k.prepend(d);}\n"
	"function funnel(row){const s=document.getElementById('funnel');s.textContent='';\n"
	" const w=s.clientWidth||900;const stages=[['overstappers',row.overstappers],['keuze',row.met_keuze],"
	"['aangemeld',row.aangemeld+row.geplaatst+row.ingeschreven],['geplaatst',row.geplaatst+row.ingeschreven],"
	"['ingeschreven',row.ingeschreven]];\n"
	" const max=Math.max(1,row.overstappers);stages.forEach(([name,n],i)=>{const y=8+i*36;const bw=Math.max(2,(w-260)*n/max);\n"
	"  s.append(el('rect',{x:120,y:y,width:bw,height:28,fill:['#123a5c','#1f5f8b','#2d7fb8','#3fa0d8','#2e9e6a'][i]}));\n"
	"  s.append(el('text',{x:4,y:y+18},name));\n"
	"  s.append(el('text',{x:128+bw,y:y+18,'data-funnel':name,'data-value':String(n)},String(n)));});}\n"
	"function schools(rows,target){const s=document.getElementById('schools');s.textContent='';\n"
	" const w=s.clientWidth||900;const h=22*rows.length+30;s.setAttribute('height',h);const x0=330,span=w-x0-70;\n"
	" rows.forEach((r,i)=>{const y=6+i*22;const label=(r.label||r.key).slice(0,48);\n"
	"  s.append(el('text',{x:4,y:y+14},label+' ('+r.key+')'));\n"
	"  if(r.suppressed){s.append(el('text',{x:x0,y:y+14,'data-school':r.key,'data-suppressed':'true'},'< 5 leerlingen'));return;}\n"
	"  const bw=span*r.definitief_pct/100;\n"
	"  s.append(el('rect',{x:x0,y:y,width:Math.max(1,bw),height:16,fill:r.definitief_pct>=target?'#2e9e6a':'#d68910'}));\n"
	"  s.append(el('text',{x:x0+bw+6,y:y+13,'data-school':r.key,'data-value':String(r.definitief_pct)},pct(r.definitief_pct)));});\n"
	" const tx=x0+span*target/100;s.append(el('line',{x1:tx,x2:tx,y1:0,y2:h-18,stroke:'#c0392b','stroke-dasharray':'4 3','stroke-width':2}));\n"
	" s.append(el('text',{x:tx-30,y:h-4,'data-target':'definitief_pct','data-value':String(target)},'doel '+target+'%'));}\n"
	"function alerts(open){const a=document.getElementById('alerts');a.textContent='';\n"
	" for(const [k,label] of [['ZOMERLEK','zomerlek'],['NIET_GESTART','niet gestart'],['GEEN_AANMELDING','geen aanmelding'],['ESCALATIE','escalatie']]){\n"
	"  const d=document.createElement('div');const b=document.createElement('b');b.textContent=open[k]||0;\n"
	"  b.dataset.alertKind=k;b.dataset.value=String(open[k]||0);d.append(b,label);a.append(d);}}\n"
	"async function refresh(){const c=cohortIn.value;const st=document.getElementById('status');\n"
	" try{const all=await get('/api/v1/stats?cohort='+c+'&by=region');\n"
	"  const keys=all.rows.map(r=>r.key).filter(k=>k);if(!region&&keys.length)region=keys[0];\n"
	"  regionSel.textContent='';for(const r of all.rows){if(!r.key)continue;const o=document.createElement('option');"
	"o.value=r.key;o.textContent=r.key+' '+r.label;regionSel.append(o);}regionSel.value=region;\n"
	"  const row=all.rows.find(r=>r.key===region)||{overstappers:0,met_keuze:0,aangemeld:0,geplaatst:0,ingeschreven:0,"
	"andere_bestemming:0,ddd:0,in_beeld_pct:0,definitief_pct:0,ddd_pct:0};\n"
	"  const [bySchool,al]=await Promise.all([get('/api/v1/stats?cohort='+c+'&region='+region+'&by=vo_school'),"
	"get('/api/v1/alerts?cohort='+c+'&region='+region)]);\n"
	"  kpi(row,all.targets);funnel(row);schools(bySchool.rows,bySchool.targets.definitief_pct);alerts(al.open);\n"
	"  document.body.dataset.region=region;document.body.dataset.cohort=c;document.body.dataset.ready='true';\n"
	"  st.textContent='bijgewerkt '+new Date().toLocaleTimeString('nl-NL');}\n"
	" catch(e){st.textContent='geen verbinding: '+e.message;}}\n"
	"regionSel.onchange=()=>{region=regionSel.value;refresh();};cohortIn.onchange=()=>{region='';refresh();};\n"
	"refresh();setInterval(refresh,CONFIG.refresh_ms);\n"
	"</script></body></html>\n";

void dashboard_render(struct evbuffer *out, int default_cohort, int64_t escalate_after)
{
	evbuffer_add(out, PAGE_HEAD, sizeof PAGE_HEAD - 1);
	evbuffer_add(out, PAGE_BODY, sizeof PAGE_BODY - 1);
	evbuffer_add_printf(out, "<script>const CONFIG={cohort:%d,refresh_ms:5000,escalate_after:%lld};</script>\n",
			    default_cohort, (long long)escalate_after);
	evbuffer_add(out, PAGE_SCRIPT, sizeof PAGE_SCRIPT - 1);
}
