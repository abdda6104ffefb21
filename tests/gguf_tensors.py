#!/usr/bin/env python3
"""gguf_tensors.py A.gguf B.gguf [--skip NAME,...] - compare the tensors of two
GGUF files by name: types, shapes and data bytes.  Prints one line per
difference and a summary; exits 1 when a tensor of the same type differs or
is missing (tensors named in --skip are left out)."""
import struct,sys
def tensors(path):
    b=open(path,'rb').read(); o=4; ver,=struct.unpack_from('<I',b,o);o+=4
    nt,nkv=struct.unpack_from('<QQ',b,o);o+=16
    sz={0:1,1:1,2:2,3:2,4:4,5:4,6:4,7:1,10:8,11:8,12:8}
    def s(o):
        n,=struct.unpack_from('<Q',b,o);return b[o+8:o+8+n],o+8+n
    def val(t,o):
        if t==8: return s(o)[1]
        if t==9:
            at,n=struct.unpack_from('<IQ',b,o);o+=12
            for i in range(n): o=val(at,o)
            return o
        return o+sz[t]
    align=32
    for i in range(nkv):
        k,o=s(o);t,=struct.unpack_from('<I',b,o);o+=4
        if k==b'general.alignment': align,=struct.unpack_from('<I',b,o)
        o=val(t,o)
    infos=[]
    for i in range(nt):
        n,o=s(o);nd,=struct.unpack_from('<I',b,o);o+=4
        ne=struct.unpack_from('<%dQ'%nd,b,o);o+=8*nd
        t,off=struct.unpack_from('<IQ',b,o);o+=12
        infos.append((n.decode(),ne,t,off))
    start=(o+align-1)//align*align
    out={}
    for j,(n,ne,t,off) in enumerate(infos):
        end=infos[j+1][3] if j+1<len(infos) else len(b)-start
        out[n]=(ne,t,b[start+off:start+end])
    return out
skip_names=set(sys.argv[4].split(',')) if len(sys.argv)>4 and sys.argv[3]=='--skip' else set()
a,b=tensors(sys.argv[1]),tensors(sys.argv[2])
same=diff=skip=0
for n,(ne,t,d) in a.items():
    if n in skip_names: continue
    if n not in b: print('missing in second:',n); diff+=1; continue
    ne2,t2,d2=b[n]
    if t!=t2: diff+=1; print('type differs', n, t, t2); continue
    nbytes=min(len(d),len(d2))
    if ne!=ne2: print('shape',n,ne,ne2); diff+=1; continue
    # compare the meaningful bytes (padding may differ)
    if d[:nbytes].rstrip(b'\0')==d2[:nbytes].rstrip(b'\0'): same+=1
    else: diff+=1; print('bytes differ',n)
print('%d tensors the same, %d differ, %d left out' % (same, diff, len(skip_names & set(a))))
sys.exit(1 if diff else 0)
