import struct, sys
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return (~s)&0xffff
def ip4(src,dst,proto,payload):
    h=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(payload),1,0,64,proto,0,bytes(src),bytes(dst))
    h=h[:10]+struct.pack('!H',csum(h))+h[12:]
    return h+payload
def ip6(src,dst,nh,payload):
    return struct.pack('!IHBB16s16s',0x60000000,len(payload),nh,64,bytes(src),bytes(dst))+payload
def tcp(sp,dp,flags,data=b''):
    return struct.pack('!HHIIBBHHH',sp,dp,1,0,0x50,flags,65535,0,0)+data
def udp(sp,dp,data):
    return struct.pack('!HHHH',sp,dp,8+len(data),0)+data
def eth(t,p): return b'\x00\x11\x22\x33\x44\x55'+b'\x66\x77\x88\x99\xaa\xbb'+struct.pack('!H',t)+p
out=open(sys.argv[1],'wb')
out.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,65535,1))
t0=1700000000
P=[]
def pkt(t,frame):
    P.append((t,frame))
def emit(t,frame):
    out.write(struct.pack('<IIII',int(t),int((t%1)*1e6),len(frame),len(frame))+frame)
A=[10,0,0,1];B=[192,0,2,7]
A6=[0x20,0x01,0x0d,0xb8]+[0]*11+[1]; B6=[0x20,0x01,0x0d,0xb8]+[0]*11+[2]
# TCP flow A:40000 -> B:443, 5 packets over 2.5 s, with 100 bytes data
for i,f in enumerate([0x02,0x10,0x18,0x18,0x11]):
    pkt(t0+i*0.5, eth(0x800, ip4(A,B,6,tcp(40000,443,f,b'x'*100))))
# reverse 
for i,f in enumerate([0x12,0x18,0x11]):
    pkt(t0+0.25+i*0.5, eth(0x800, ip4(B,A,6,tcp(443,40000,f,b'y'*200))))
# UDP DNS
pkt(t0+1.0, eth(0x800, ip4(A,[8,8,8,8],17,udp(53000,53,b'q'*30))))
pkt(t0+1.1, eth(0x800, ip4([8,8,8,8],A,17,udp(53,53000,b'r'*60))))
# ICMP echo type 8 code 0
pkt(t0+1.5, eth(0x800, ip4(A,B,1,b'\x08\x00\x00\x00\x00\x01\x00\x01'+b'p'*56)))
# IPv6 TCP
for i in range(3):
    pkt(t0+2+i*0.1, eth(0x86dd, ip6(A6,B6,6,tcp(50000,80,0x18,b'z'*50))))
for t,f in sorted(P,key=lambda x:x[0]): emit(t,f)
out.close()
